"""WAHA webhook deliveries (`shared/waha-api.md` section 4): signature check and envelope
parsing. Pure.

Signatures: `X-Webhook-Hmac` is the lower-case hex HMAC-SHA512 of the raw body (v1), or of
`"{X-Webhook-Timestamp}.{body}"` when `X-Webhook-Hmac-Version: 2`; both are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from chatport.domain.changes import MessageChange
from chatport.domain.model import IncomingMessage
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


class Me(msgspec.Struct, frozen=True):
    id: str | None = None
    lid: str | None = None
    pushName: str | None = None  # noqa: N815 - WAHA's field name


class Envelope(msgspec.Struct, frozen=True):
    """One webhook delivery. `payload` stays raw JSON: a message keeps its bytes verbatim."""

    id: str
    event: str
    session: str
    payload: msgspec.Raw
    timestamp: int | float | None = None
    me: Me | None = None
    engine: str | None = None


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
    """The envelope of a delivery; WebhookRejected (400 malformed JSON, 422 missing or
    mistyped fields) with the reason."""
    try:
        return _decode_envelope(body)
    except msgspec.ValidationError as error:
        raise WebhookRejected(422, f"not a WAHA webhook envelope: {error}") from None
    except msgspec.DecodeError as error:
        raise WebhookRejected(400, f"malformed JSON: {error}") from None


@dataclass(frozen=True)
class SessionStatus:
    """A `session.status` payload: the WAHA session's new status."""

    status: str


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
    status = _payload(envelope).get("status")
    if not isinstance(status, str) or not status:
        raise WebhookRejected(422, "session.status payload without a status")
    return SessionStatus(status)


STATE_EVENTS = frozenset({"message.ack", "message.revoked", "message.edited"})
"""Events that change a stored message (its delivery status, revoked, its text)."""


def change_of(envelope: Envelope, lids: Mapping[str, str]) -> MessageChange:
    """The change a `message.ack` / `message.revoked` / `message.edited` delivery carries
    (WebhookRejected 422 when it names no message)."""
    payload = _payload(envelope)
    if envelope.event == "message.ack":
        ack = payload.get("ack")
        message_id = payload.get("id")
        if not isinstance(message_id, str) or not isinstance(ack, int):
            raise WebhookRejected(422, "message.ack payload without a message id and an ack")
        return MessageChange("ack", None, message_id=message_id, ack=ack)
    if envelope.event == "message.revoked":
        before = payload.get("before") if isinstance(payload.get("before"), dict) else None
        after = payload.get("after") if isinstance(payload.get("after"), dict) else {}
        wa_id = payload.get("revokedMessageId")
        message_id = before.get("id") if before else None
        if not message_id and not isinstance(wa_id, str):
            raise WebhookRejected(422, "message.revoked payload without the revoked message's id")
        return MessageChange(
            "revoked", _chat_of(after, lids), message_id, wa_id, at=after.get("timestamp")
        )
    wa_id = payload.get("editedMessageId")
    if not isinstance(wa_id, str) or not wa_id:
        raise WebhookRejected(422, "message.edited payload without editedMessageId")
    body = payload.get("body")
    return MessageChange(
        "edited",
        _chat_of(payload, lids),
        wa_id=wa_id,
        text=body if isinstance(body, str) else None,
        at=payload.get("timestamp"),
    )


def _chat_of(message: Mapping[str, Any], lids: Mapping[str, str]) -> str | None:
    chat = message.get("to") if message.get("fromMe") else message.get("from")
    if not isinstance(chat, str) or not chat:
        return None
    data = message.get("_data")
    key = data.get("key") if isinstance(data, dict) else None
    twin = key.get("remoteJidAlt") if isinstance(key, dict) else None
    return resolve(chat, twin if isinstance(twin, str) else None, lids)


def _payload(envelope: Envelope) -> dict[str, Any]:
    try:
        payload = _decode_payload(envelope.payload)
    except msgspec.DecodeError as error:  # pragma: no cover - the envelope decoded it once
        raise WebhookRejected(400, f"malformed payload: {error}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(422, f"{envelope.event} payload is not an object")
    return payload
