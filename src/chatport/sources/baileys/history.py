"""Baileys history sync (`messaging-history.set`: `{chats, contacts, messages,
lidPnMappings, …}`) -> IncomingMessage for the write path (pure).

Messages are unwrapped from their ephemeral, view-once, document-with-caption and edited
wrappers; timestamps come as a number, a string or a protobuf Long (`{low, high}`). LIDs are
resolved by `lidPnMappings`, the contacts' `lid` / `phoneNumber`, and each key's
`remoteJidAlt` / `participantAlt`, so one person is one contact. Ids follow WAHA's form
(`{fromMe}_{chat}_{id}[_{participant}]`) and each message gives its WhatsApp id, so a message
seen through WAHA and through Baileys is one row (`domain.keys`), whatever alias each named
its chat by. Reactions, protocol messages (revokes, key shares) and stubs without content are
not messages and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from chatport.domain.model import ContentType, IncomingMessage, Media
from chatport.domain.normalise import InvalidValue, normalise_jid
from chatport.sources.base import HistoryPart
from chatport.sources.waha.messages import (
    CONTENT_TYPES,
    contact_of,
    long_number,
    resolve,
    user_jid,
)

_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
_SKIPPED = {"reactionMessage", "protocolMessage", "senderKeyDistributionMessage"}
_KINDS = {
    **CONTENT_TYPES,
    "pollCreationMessageV2": ContentType.POLL,
    "pollCreationMessageV3": ContentType.POLL,
}


def read_history(payload: Mapping[str, Any]) -> HistoryPart:
    """Map one `messaging-history.set` payload (see the module)."""
    history = HistoryPart(lids=lid_pairs(payload))
    names = {
        chat["id"]: _str(chat.get("name"))
        for chat in _list(payload.get("chats"))
        if isinstance(chat, Mapping) and isinstance(chat.get("id"), str)
    }
    for item in _list(payload.get("messages")):
        message = _message(item, history.lids, names) if isinstance(item, Mapping) else None
        if message is None:
            history.skipped += 1
        else:
            history.messages.append(message)
    return history


def lid_pairs(payload: Mapping[str, Any]) -> dict[str, str]:
    """`@lid` -> phone JID (`…@c.us`) from `lidPnMappings` and the contacts."""
    pairs: dict[str, str] = {}
    for item in _list(payload.get("lidPnMappings")):
        if isinstance(item, Mapping):
            _pair(pairs, item.get("lid"), item.get("pn"))
    for contact in _list(payload.get("contacts")):
        if not isinstance(contact, Mapping):
            continue
        jid, lid, phone = contact.get("id"), contact.get("lid"), contact.get("phoneNumber")
        if isinstance(jid, str) and jid.endswith("@lid"):
            _pair(pairs, jid, phone)
        else:
            _pair(pairs, lid, phone or jid)
    return pairs


def _pair(pairs: dict[str, str], lid: Any, phone: Any) -> None:
    """Add the pair when both are WhatsApp ids (no NUL, not too long: see normalise_jid)."""
    if isinstance(lid, str) and lid.endswith("@lid") and isinstance(phone, str):
        phone = user_jid(phone) or phone
        if phone.endswith("@c.us") and _valid_jid(lid) and _valid_jid(phone):
            pairs[lid] = phone


def _valid_jid(jid: str) -> bool:
    try:
        normalise_jid(jid)
    except InvalidValue:
        return False
    return True


def _message(item: Mapping[str, Any], lids: dict[str, str], names: dict) -> IncomingMessage | None:
    key = item.get("key")
    if not isinstance(key, Mapping):
        return None
    remote, message_id = _str(key.get("remoteJid")), _str(key.get("id"))
    content, edited = _unwrap(item.get("message"))
    if remote is None or not content:
        return None
    kind_field = next((name for name in content if name in _KINDS or name in _SKIPPED), None)
    if kind_field is None or kind_field in _SKIPPED:
        return None
    from_me = bool(key.get("fromMe"))
    remote_alt, participant_alt = _str(key.get("remoteJidAlt")), _str(key.get("participantAlt"))
    chat_id = resolve(remote, remote_alt, lids) or remote
    participant = _str(key.get("participant")) or _str(item.get("participant"))
    author = None
    if not from_me:
        name = _str(item.get("pushName")) or _str(item.get("verifiedBizName"))
        if participant:
            author = contact_of(participant, participant_alt, lids, name)
        elif not remote.endswith("@g.us"):
            author = contact_of(remote, remote_alt, lids, name)
    body = content[kind_field]
    kind, text, media = _content(kind_field, body)
    raw = dict(item)
    if edited:
        raw["chatport_edited"] = True
    return IncomingMessage(
        external_id=_id(from_me, chat_id, message_id, participant, lids) if message_id else None,
        chat_id=chat_id,
        sent_at=long_number(item.get("messageTimestamp")),
        from_me=from_me,
        author=author,
        text=text,
        content_type=kind,
        media=media,
        chat_name=names.get(remote),
        raw=raw,
        wa_id=message_id,
        chat_lid=remote if chat_id != remote and remote.endswith("@lid") else None,
    )


def _unwrap(message: Any) -> tuple[dict[str, Any] | None, bool]:
    edited = False
    for _ in range(8):  # wrappers nest a few deep at most
        if not isinstance(message, Mapping):
            return None, edited
        wrapper = next((name for name in _WRAPPERS if name in message), None)
        if wrapper is None:
            return dict(message), edited
        inner = message[wrapper]
        inner_message = inner.get("message") if isinstance(inner, Mapping) else None
        if wrapper == "editedMessage" and isinstance(inner_message, Mapping):
            edited = True
            protocol = inner_message.get("protocolMessage")
            edit = protocol.get("editedMessage") if isinstance(protocol, Mapping) else None
            message = edit or inner_message
        else:
            message = inner_message
    return None, edited


def _content(field_name: str, body: Any) -> tuple[str, str | None, Media | None]:
    kind = _KINDS[field_name]
    if field_name == "conversation":
        return kind, _str(body), None
    body = body if isinstance(body, Mapping) else {}
    if field_name == "extendedTextMessage":
        return kind, _str(body.get("text")), None
    if kind == ContentType.AUDIO and body.get("ptt"):
        kind = ContentType.VOICE
    if kind == ContentType.LOCATION:
        place = _str(body.get("name")) or _str(body.get("address"))
        where = f"{body.get('degreesLatitude')},{body.get('degreesLongitude')}"
        return kind, place or where, None
    if kind == ContentType.CONTACT:
        return kind, _str(body.get("displayName")), None
    if kind == ContentType.POLL:
        return kind, _str(body.get("name")), None
    media = Media(
        url=_str(body.get("url")),
        mime=_str(body.get("mimetype")),
        filename=_str(body.get("fileName")),
        size=long_number(body.get("fileLength")),
    )
    return kind, _str(body.get("caption")), media


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(from_me: bool, chat_id: str, message_id: str, participant: str | None, lids) -> str:
    parts = [str(from_me).lower(), chat_id, message_id]
    if chat_id.endswith("@g.us") and participant:
        parts.append(resolve(participant, None, lids) or participant)
    return "_".join(parts)


def payloads(text: str) -> Iterator[tuple[int, Any]]:
    """The payloads of a file: one JSON document, or JSON lines (blank lines skipped);
    (line, decoded) pairs, ValueError naming the line of a broken one."""
    stripped = text.strip()
    try:
        yield 1, orjson.loads(stripped)
        return
    except orjson.JSONDecodeError:
        if "\n" not in stripped:
            raise ValueError("line 1: not JSON") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise ValueError(f"line {number}: not JSON ({error})") from None
