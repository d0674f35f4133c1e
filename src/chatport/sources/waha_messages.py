"""WAHA `WAMessage` payloads -> `IncomingMessage`. Pure.

One person is one contact: a `@lid` chat or participant is resolved to its phone JID from the
payload's NOWEB twin (`_data.key.remoteJidAlt` / `participantAlt`, `@s.whatsapp.net` form) or
from the session's `/lids` mapping; when neither knows it, the LID is kept (and linked later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatport.domain.model import ContactRef, ContentType, IncomingMessage, Media

CONTENT_TYPES = {  # the `message` field of a WAMessage -> its content type
    "conversation": ContentType.TEXT,
    "extendedTextMessage": ContentType.TEXT,
    "imageMessage": ContentType.IMAGE,
    "videoMessage": ContentType.VIDEO,
    "audioMessage": ContentType.AUDIO,
    "documentMessage": ContentType.DOCUMENT,
    "documentWithCaptionMessage": ContentType.DOCUMENT,
    "stickerMessage": ContentType.STICKER,
    "locationMessage": ContentType.LOCATION,
    "liveLocationMessage": ContentType.LOCATION,
    "contactMessage": ContentType.CONTACT,
    "contactsArrayMessage": ContentType.CONTACT,
    "pollCreationMessage": ContentType.POLL,
    "reactionMessage": ContentType.REACTION,
}


def user_jid(jid: str | None) -> str | None:
    """`…@s.whatsapp.net` (NOWEB raw form) as `…@c.us`; other forms unchanged."""
    if jid and jid.endswith("@s.whatsapp.net"):
        return jid[: -len("@s.whatsapp.net")].split(":", 1)[0] + "@c.us"
    return jid


def resolve(jid: str | None, twin: str | None, lids: Mapping[str, str]) -> str | None:
    """The phone JID of `jid` when it is a LID with a known phone, else `jid`."""
    if jid and jid.endswith("@lid"):
        return user_jid(twin) or lids.get(jid) or jid
    return user_jid(jid)


def contact_of(jid: str, twin: str | None, lids: Mapping[str, str], name: str | None) -> ContactRef:
    """A contact keyed by phone JID when known, remembering its LID."""
    lid = jid if jid.endswith("@lid") else None
    resolved = resolve(jid, twin, lids) or jid
    return ContactRef(wa_id=resolved, lid=lid, name=name)


def to_incoming(
    message: Mapping[str, Any],
    raw: bytes | None,
    chat_id: str,
    lids: Mapping[str, str],
    chat_name: str | None = None,
) -> IncomingMessage:
    """Map one WAHA message of chat `chat_id` (as listed by WAHA) to an IncomingMessage."""
    data = message.get("_data") or {}
    key = data.get("key") or {}
    resolved_chat = resolve(chat_id, key.get("remoteJidAlt"), lids) or chat_id
    from_me = bool(message.get("fromMe"))
    author = None
    if not from_me:
        push_name = data.get("pushName") or data.get("notifyName")
        participant = message.get("participant") or message.get("author")
        if participant:
            author = contact_of(participant, key.get("participantAlt"), lids, push_name)
        elif not chat_id.endswith("@g.us"):
            author = contact_of(chat_id, key.get("remoteJidAlt"), lids, push_name)
    content_type = _content_type(message, data)
    media_info = message.get("media") or {}
    media = None
    if message.get("hasMedia") or media_info:
        inner = next(iter((data.get("message") or {}).values()), None)
        inner = inner if isinstance(inner, dict) else {}
        media = Media(
            url=media_info.get("url"),
            mime=media_info.get("mimetype") or inner.get("mimetype"),
            filename=media_info.get("filename") or inner.get("fileName"),
            size=long_number(inner.get("fileLength")),
        )
    return IncomingMessage(
        external_id=message.get("id"),
        chat_id=resolved_chat,
        sent_at=message.get("timestamp"),
        from_me=from_me,
        author=author,
        text=message.get("body") or None,
        content_type=content_type,
        media=media,
        chat_name=chat_name,
        raw=raw if raw is not None else dict(message),
    )


def _content_type(message: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    for field in data.get("message") or {}:
        if field in CONTENT_TYPES:
            kind = CONTENT_TYPES[field]
            if kind == ContentType.AUDIO and (data["message"][field] or {}).get("ptt"):
                return ContentType.VOICE
            return kind
    if message.get("location"):
        return ContentType.LOCATION
    if message.get("vCards"):
        return ContentType.CONTACT
    return ContentType.UNKNOWN if message.get("hasMedia") else ContentType.TEXT


def long_number(value: Any) -> int | None:
    """A protobuf number as Baileys serialises it (a number, a numeric string, or a Long
    `{low, high}`): timestamps, file lengths."""
    if isinstance(value, Mapping):
        low, high = value.get("low"), value.get("high")
        if isinstance(low, int) and isinstance(high, int):
            return (high << 32) + (low & 0xFFFFFFFF)
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None
