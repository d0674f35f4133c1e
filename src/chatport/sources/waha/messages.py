"""WAHA `WAMessage` payloads -> `IncomingMessage`. Pure.

A payload is decoded into `WahaPayload`, a typed view of the fields chatport reads (about five
times cheaper than a generic decode into dicts, most of which an import never looks at); its
JSON text is kept as received for `messages.raw`. A message with a field of the wrong type is
not read (`UnreadableMessage`): the import stores it as invalid, the webhook refuses it.

One person is one contact: a `@lid` chat or participant is resolved to its phone JID from the
payload's NOWEB twin (`_data.key.remoteJidAlt` / `participantAlt`, `@s.whatsapp.net` form) or
from the session's `/lids` mapping; when neither knows it, the LID is kept (and linked later).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import msgspec

from chatport.domain.keys import message_key
from chatport.domain.model import ContactRef, ContentType, IncomingMessage, Media
from chatport.domain.normalise import InvalidValue, normalise_jid

# WAHA's field names are camelCase; the structs below name them as WAHA does.
# ruff: noqa: N815


class _Key(msgspec.Struct, gc=False):
    remoteJidAlt: str | None = None
    participantAlt: str | None = None


class _NowebData(msgspec.Struct, gc=False):
    key: _Key | None = None
    pushName: str | None = None
    notifyName: str | None = None
    message: dict[str, msgspec.Raw] | None = None
    """The protobuf message by its one field name (`conversation`, `imageMessage`, ...),
    decoded only when its details are needed (media)."""


class _MediaInfo(msgspec.Struct, gc=False):
    url: str | None = None
    mimetype: str | None = None
    filename: str | None = None


class _InnerMedia(msgspec.Struct, gc=False):
    mimetype: str | None = None
    fileName: str | None = None
    fileLength: Any = None
    ptt: Any = None


class WahaPayload(msgspec.Struct, gc=False):
    """The fields of a WAHA message that chatport reads (`shared/waha-api.md` 3.4)."""

    id: str | None = None
    timestamp: int | float | str | None = None
    fromMe: bool = False
    sender: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    participant: str | None = None
    author: str | None = None
    body: str | None = None
    hasMedia: bool = False
    media: _MediaInfo | None = None
    location: Any = None
    vCards: Any = None
    data: _NowebData | None = msgspec.field(default=None, name="_data")


_decode = msgspec.json.Decoder(WahaPayload).decode
_decode_details = msgspec.json.Decoder(_InnerMedia).decode


class UnreadableMessage(ValueError):
    """A message that is not a WAHA message: not an object, or a field of the wrong type."""


def decode_message(raw: bytes) -> WahaPayload:
    """The payload in `raw` (one message's JSON); UnreadableMessage saying what is wrong."""
    try:
        return _decode(raw)
    except msgspec.DecodeError as error:  # ValidationError included
        raise UnreadableMessage(f"not a WAHA message: {error}") from None


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
    if not twin and jid.endswith("@lid"):
        return ContactRef(wa_id=lids.get(jid) or jid, lid=jid, name=name)
    return _contact_without_lids(jid, twin, name)


@lru_cache(maxsize=4_096)
def _contact_without_lids(jid: str, twin: str | None, name: str | None) -> ContactRef:
    """`contact_of` when the `/lids` mapping cannot matter (a phone JID, or a LID with its
    twin): one object per person and name, as most messages of a chat share them (a chat's
    pages arrive together, so a small cache keeps a fetcher's memory flat)."""
    lid = jid if jid.endswith("@lid") else None
    return ContactRef(wa_id=resolve(jid, twin, {}) or jid, lid=lid, name=name)


def to_incoming(
    message: WahaPayload | None,
    raw: bytes,
    chat_id: str,
    lids: Mapping[str, str],
    chat_name: str | None = None,
    problem: str | None = None,
) -> IncomingMessage:
    """Map one WAHA message of chat `chat_id` (as listed by WAHA), decoded from its JSON text
    `raw` by `decode_message`, to an IncomingMessage; None and the `problem` when it was
    unreadable (the result is then stored as invalid, with `raw`)."""
    if message is None:
        return IncomingMessage(None, chat_id, None, raw=raw, problem=problem or "unreadable")
    data = message.data or _NO_DATA
    key = data.key or _NO_KEY
    from_me = message.fromMe
    author = None
    if not from_me:
        push_name = data.pushName or data.notifyName
        participant = message.participant or message.author
        if participant:
            author = contact_of(participant, key.participantAlt, lids, push_name)
        elif not chat_id.endswith("@g.us"):
            author = contact_of(chat_id, key.remoteJidAlt, lids, push_name)
    content = data.message or {}
    content_type = _content_type(message, content)
    media = None
    if message.hasMedia or message.media:
        media = _media(message.media or _NO_MEDIA, content)
    chat = resolve(chat_id, key.remoteJidAlt, lids) or chat_id
    return IncomingMessage(
        external_id=message.id,
        chat_id=chat,
        sent_at=message.timestamp,
        from_me=from_me,
        author=author,
        text=message.body or None,
        content_type=content_type,
        media=media,
        chat_name=chat_name,
        raw=raw,
        chat_lid=chat_id if chat != chat_id and chat_id.endswith("@lid") else None,
    )


def stored_key(
    message: WahaPayload | None, chat_id: str, lids: Mapping[str, str]
) -> tuple[str, str | None, Any] | None:
    """What `to_incoming` and the validation would make of the message's chat, key
    (`domain.keys`) and time, computed without mapping it (a re-import looks these up and
    maps only the messages it lacks); None when it was unreadable or its chat is no JID."""
    if message is None:
        return None
    key = (message.data or _NO_DATA).key or _NO_KEY
    chat = resolve(chat_id, key.remoteJidAlt, lids) or chat_id
    try:
        chat = _jid(chat)
    except InvalidValue:
        return None
    if not isinstance(message.id, str):
        return chat, None, message.timestamp
    return chat, message_key(message.fromMe, chat, message.id), message.timestamp


_jid = lru_cache(maxsize=4_096)(normalise_jid)
_NO_DATA = _NowebData()
_NO_KEY = _Key()
_NO_MEDIA = _MediaInfo()
_NO_DETAILS = _InnerMedia()


def _media(info: _MediaInfo, content: dict[str, msgspec.Raw]) -> Media:
    inner = _details(next(iter(content.values()), None))
    return Media(
        url=info.url,
        mime=info.mimetype or inner.mimetype,
        filename=info.filename or inner.fileName,
        size=long_number(inner.fileLength),
    )


def _details(raw: msgspec.Raw | None) -> _InnerMedia:
    """A protobuf field's media details; empty when it is not an object or has none."""
    if raw is None:
        return _NO_DETAILS
    try:
        return _decode_details(raw)
    except msgspec.ValidationError:
        return _NO_DETAILS


def _content_type(message: WahaPayload, content: dict[str, msgspec.Raw]) -> str:
    for field in content:
        if field in CONTENT_TYPES:
            kind = CONTENT_TYPES[field]
            if kind == ContentType.AUDIO and _details(content[field]).ptt:
                return ContentType.VOICE
            return kind
    if message.location:
        return ContentType.LOCATION
    if message.vCards:
        return ContentType.CONTACT
    return ContentType.UNKNOWN if message.hasMedia else ContentType.TEXT


def long_number(value: Any) -> int | None:
    """A protobuf number as Baileys serialises it (a number, a numeric string, or a Long
    `{low, high}`): timestamps, file lengths; None when it is none, or outside 0..2^63-1."""
    number = _long_number(value)
    return number if number is not None and 0 <= number < 2**63 else None


def _long_number(value: Any) -> int | None:
    if isinstance(value, Mapping):
        low, high = value.get("low"), value.get("high")
        if isinstance(low, int) and isinstance(high, int):
            return (high << 32) + (low & 0xFFFFFFFF)
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**63 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip()) if len(value.strip()) < 20 else None
    return None
