"""WAHA webhook deliveries (`shared/waha-api.md` section 4): signature check and envelope
parsing. Pure.

Signatures: `X-Webhook-Hmac` is the lower-case hex HMAC-SHA512 of the raw body (v1), or of
`"{X-Webhook-Timestamp}.{body}"` when `X-Webhook-Hmac-Version: 2`; both are accepted. Check
them on the raw bytes before parsing (`signature_valid`).

Parsing is the edge of the live path: `parse_envelope` refuses (400/422 with the reason)
what is not a WAHA envelope with fields of sane sizes, and a payload that breaks the rules
of `sources/edge_json.py` (depth, NUL characters, UTF-8, 64-bit integers); `message_of` and
`change_of` refuse values no message or change can have (an ack outside -1..4, ids too long,
a chat that is not a WhatsApp id). What passes can be stored on both back ends.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from chatport.domain.batch import MAX_EXTERNAL_ID_LENGTH
from chatport.domain.changes import MessageChange
from chatport.domain.model import IncomingMessage
from chatport.domain.normalise import InvalidValue, normalise_jid
from chatport.sources import edge_json
from chatport.sources.waha.messages import (
    UnreadableMessage,
    decode_message,
    resolve,
    to_incoming,
)

MESSAGE_EVENTS = frozenset({"message", "message.any"})
"""Events whose payload is a `WAMessage` to store (the same message in both is one row)."""


KNOWN_EVENTS = frozenset(
    {
        "session.status", "message", "message.any", "message.reaction", "message.ack",
        "message.ack.group", "message.waiting", "message.revoked", "message.edited",
        "chat.archive", "presence.update", "poll.vote", "poll.vote.failed", "group.v2.join",
        "group.v2.leave", "group.v2.update", "group.v2.participants", "label.upsert",
        "label.deleted", "label.chat.added", "label.chat.deleted", "call.received",
        "call.accepted", "call.rejected", "event.response", "event.response.failed",
        "engine.event", "state.change", "group.join", "group.leave",
    }
)  # fmt: skip
"""WAHA's event names (`shared/waha-api.md` 4.2); others are counted as `other` in metrics."""


class WebhookRejected(Exception):
    """A delivery refused as a whole; `status` is the HTTP answer, the text its reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


ACKS = range(-1, 5)
"""WAHA's ack values: -1 error, 0 pending, 1 server, 2 device, 3 read, 4 played."""

_Id = Annotated[str, msgspec.Meta(max_length=128)]
_Name = Annotated[str, msgspec.Meta(max_length=1000)]
_Moment = (
    Annotated[int, msgspec.Meta(ge=0, le=2**53)] | Annotated[float, msgspec.Meta(ge=0, le=2**53)]
)


class Me(msgspec.Struct, frozen=True):
    id: _Id | None = None
    lid: _Id | None = None
    pushName: _Name | None = None  # noqa: N815 - WAHA's field name


class Envelope(msgspec.Struct, frozen=True):
    """One webhook delivery. `payload` stays raw JSON: a message keeps its bytes verbatim."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    event: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    session: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    payload: msgspec.Raw
    timestamp: _Moment | None = None
    me: Me | None = None
    engine: Annotated[str, msgspec.Meta(max_length=64)] | None = None


_decode_envelope = msgspec.json.Decoder(Envelope).decode
_decode_payload = msgspec.json.Decoder().decode


def signature_valid(body: bytes, headers: Mapping[str, str], key: str) -> bool:
    """Whether the delivery's `X-Webhook-Hmac` is the HMAC-SHA512 of the body (v1) or of
    `timestamp.body` (v2, `X-Webhook-Hmac-Version: 2`) under `key`. `headers` must look up
    names case-insensitively (as Starlette's do)."""
    given = headers.get("x-webhook-hmac")
    if not given:
        return False
    algorithm = headers.get("x-webhook-hmac-algorithm", "sha512").lower()
    if algorithm != "sha512":
        return False
    signed = body
    if headers.get("x-webhook-hmac-version") == "2":
        timestamp = headers.get("x-webhook-timestamp")
        if not timestamp:
            return False
        signed = timestamp.encode() + b"." + body
    expected = hmac.new(key.encode(), signed, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def sign(body: bytes, key: str, timestamp: str | None = None) -> dict[str, str]:
    """The headers WAHA sends with `body` (v2 when `timestamp` is given): for tests,
    benchmarks and anyone relaying deliveries."""
    signed = body if timestamp is None else timestamp.encode() + b"." + body
    headers = {
        "X-Webhook-Hmac": hmac.new(key.encode(), signed, hashlib.sha512).hexdigest(),
        "X-Webhook-Hmac-Algorithm": "sha512",
    }
    if timestamp is not None:
        headers |= {"X-Webhook-Hmac-Version": "2", "X-Webhook-Timestamp": timestamp}
    return headers


class _ChatOfPayload(msgspec.Struct):
    sender: Any = msgspec.field(default=None, name="from")
    to: Any = None
    fromMe: Any = False  # noqa: N815 - WAHA's field name


_decode_chat_of = msgspec.json.Decoder(_ChatOfPayload).decode


def chat_key(envelope: Envelope) -> str:
    """The chat a delivery is about, as its payload names it (`to` when fromMe, else
    `from`), or "" when it names none: cheap, for routing deliveries of one chat together."""
    try:
        found = _decode_chat_of(envelope.payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    chat = found.to if found.fromMe is True else found.sender
    return chat if isinstance(chat, str) else ""


def parse_envelope(body: bytes) -> Envelope:
    """The envelope of a delivery, its payload checked (`sources/edge_json.py`);
    WebhookRejected (400 malformed or too deeply nested JSON, 422 missing, mistyped or
    out-of-range fields, NUL characters) with the reason."""
    try:
        envelope = _decode_envelope(body)
    except RecursionError:
        reason = f"JSON nested deeper than {edge_json.MAX_DEPTH} levels"
        raise WebhookRejected(400, reason) from None
    except msgspec.ValidationError as error:
        raise WebhookRejected(422, f"not a WAHA webhook envelope: {error}") from None
    except msgspec.DecodeError as error:
        raise WebhookRejected(400, f"malformed JSON: {error}") from None
    me = envelope.me
    named = (envelope.id, envelope.event, envelope.session, me.id or "" if me else "")
    if any("\x00" in text for text in named):
        raise WebhookRejected(422, "not a WAHA webhook envelope: a NUL character in a field")
    try:
        edge_json.decode(envelope.payload, "payload")
    except edge_json.UnsafeJson as unsafe:
        raise WebhookRejected(unsafe.status, unsafe.reason) from None
    return envelope


@dataclass(frozen=True)
class SessionStatus:
    """A `session.status` payload: the WAHA session's new status, and the statuses it lists
    as its latest (`statuses`, up to 3 with the new one; empty when it lists none)."""

    status: str
    latest: tuple[str, ...] = ()


def message_of(envelope: Envelope, lids: Mapping[str, str]) -> IncomingMessage:
    """The message a `message` / `message.any` delivery carries (WebhookRejected 422 when the
    payload is not a message)."""
    raw = bytes(envelope.payload)
    try:
        payload = decode_message(raw)
    except UnreadableMessage as error:
        raise WebhookRejected(422, f"{envelope.event} payload: {error}") from None
    chat_id = payload.to if payload.fromMe else payload.sender
    if not chat_id:
        side = "to" if payload.fromMe else "from"
        raise WebhookRejected(422, f"{envelope.event} payload without a chat (`{side}`)")
    return to_incoming(payload, raw, chat_id, lids)


def session_status_of(envelope: Envelope) -> SessionStatus:
    """The status a `session.status` delivery reports (WebhookRejected 422 without one)."""
    payload = _payload(envelope)
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise WebhookRejected(422, "session.status payload without a status")
    listed = payload.get("statuses")
    latest = tuple(
        item["status"][:32]
        for item in (listed if isinstance(listed, list) else [])[-8:]
        if isinstance(item, dict) and isinstance(item.get("status"), str)
    )
    return SessionStatus(status, latest)


STATE_EVENTS = frozenset({"message.ack", "message.revoked", "message.edited"})
"""Events that change a stored message (its delivery status, revoked, its text)."""


def change_of(envelope: Envelope, lids: Mapping[str, str]) -> MessageChange:
    """The change a `message.ack` / `message.revoked` / `message.edited` delivery carries
    (WebhookRejected 422 when it names no message)."""
    payload = _payload(envelope)
    if envelope.event == "message.ack":
        ack = payload.get("ack")
        message_id = payload.get("id")
        if not isinstance(message_id, str) or type(ack) is not int:
            raise WebhookRejected(422, "message.ack payload without a message id and an ack")
        if ack not in ACKS:
            raise WebhookRejected(422, f"message.ack payload: ack {ack} is not one of -1..4")
        return MessageChange("ack", None, message_id=_id(message_id, "id"), ack=ack)
    if envelope.event == "message.revoked":
        before = payload.get("before") if isinstance(payload.get("before"), dict) else None
        after = payload.get("after") if isinstance(payload.get("after"), dict) else {}
        wa_id = payload.get("revokedMessageId")
        message_id = before.get("id") if before else None
        if not isinstance(message_id, str):
            message_id = None
        if not isinstance(wa_id, str):
            wa_id = None
        if not message_id and not wa_id:
            raise WebhookRejected(422, "message.revoked payload without the revoked message's id")
        return MessageChange(
            "revoked",
            _chat_of(after, lids),
            _id(message_id, "before.id"),
            _id(wa_id, "revokedMessageId"),
            at=after.get("timestamp"),
        )
    wa_id = payload.get("editedMessageId")
    if not isinstance(wa_id, str) or not wa_id:
        raise WebhookRejected(422, "message.edited payload without editedMessageId")
    wa_id = _id(wa_id, "editedMessageId")
    body = payload.get("body")
    return MessageChange(
        "edited",
        _chat_of(payload, lids),
        wa_id=wa_id,
        text=body if isinstance(body, str) else None,
        at=payload.get("timestamp"),
    )


def _id(value: str | None, field: str) -> str | None:
    """A message id of a change payload, refused (422) when no stored message can have it."""
    if value is not None and len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise WebhookRejected(422, f"{field} longer than {MAX_EXTERNAL_ID_LENGTH} characters")
    return value


def _chat_of(message: Mapping[str, Any], lids: Mapping[str, str]) -> str | None:
    chat = message.get("to") if message.get("fromMe") else message.get("from")
    if not isinstance(chat, str) or not chat:
        return None
    data = message.get("_data")
    key = data.get("key") if isinstance(data, dict) else None
    twin = key.get("remoteJidAlt") if isinstance(key, dict) else None
    resolved = resolve(chat, twin if isinstance(twin, str) else None, lids)
    try:
        return normalise_jid(resolved)
    except InvalidValue as invalid:
        raise WebhookRejected(422, f"the changed message's chat: {invalid}") from None


def _payload(envelope: Envelope) -> dict[str, Any]:
    try:
        payload = _decode_payload(envelope.payload)
    except msgspec.DecodeError as error:  # pragma: no cover - the envelope decoded it once
        raise WebhookRejected(400, f"malformed payload: {error}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(422, f"{envelope.event} payload is not an object")
    return payload
