"""`POST /webhooks/waha`: WAHA's webhook deliveries into the live path.

The channel is the one named by `?channel=` (and `?tenant=`), else the one answering to the
envelope's `session` (and `me.id` when several channels share a session name). Signatures are
checked with the channel's `webhook_hmac_key`, else `CHATPORT_WEBHOOK_HMAC_KEY`; without
either, deliveries are taken unsigned. Refused deliveries are answered 4xx with the reason and
kept in `dead_letters`, bounded (the first 64 KiB, the length and hash) and capped per
channel, except those with a missing or wrong signature, which are not trusted with storage.
A delivery for no known channel is answered 401 as an unsigned one is (so unsigned callers
cannot probe which channels exist), unless it is signed with the global key or no key is set
anywhere: then 404, kept.
"""

from __future__ import annotations

from typing import NoReturn

import msgspec
import orjson
from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from chatport.api.deps import server_of
from chatport.api.directory import ChannelDirectory
from chatport.api.metrics import Metrics
from chatport.bootstrap import ServerServices
from chatport.domain.model import Channel
from chatport.live.writer import Outcome
from chatport.sources.waha.webhooks import (
    KNOWN_EVENTS,
    Envelope,
    WebhookRejected,
    parse_envelope,
    signature_valid,
)
from chatport.store import webhook_receipts

_ENVELOPE_COMPONENTS = msgspec.json.schema_components(
    [Envelope], ref_template="#/components/schemas/{name}"
)[1]


OPENAPI_OPERATION = {
    "tags": ["webhooks"],
    "summary": "Receive a WAHA webhook delivery",
    "description": "One WAHA webhook delivery (any event; see `shared/waha-api.md` section 4).",
    "operationId": "receive_waha_webhook",
    "parameters": [
        {"name": "channel", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}},
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
    },
    "responses": {
        "200": {
            "description": "Handled: `stored`, `duplicate` (a retry) or `ignored` (an event "
            "chatport does not act on)"
        },
        "400": {
            "description": "Malformed JSON, not UTF-8, nested deeper than 64 levels, or a NUL "
            "in the URL (kept in dead_letters when signed)"
        },
        "401": {
            "description": "Missing or wrong HMAC signature; also a channel or session chatport "
            "does not know, to a caller not signed with the global key"
        },
        "404": {"description": "No channel takes this delivery (kept in dead_letters)"},
        "409": {
            "description": "An ack, revoke or edit of a message not stored yet (WAHA retries "
            "it; nothing is kept)"
        },
        "413": {"description": "A body over CHATPORT_MAX_BODY_BYTES (nothing is kept)"},
        "422": {
            "description": "Not a WAHA envelope, a value out of range (an ack outside -1..4, "
            "an integer beyond 64 bits, a NUL character, an id too long), or a message that "
            "cannot be stored (kept in dead_letters)"
        },
    },
}
"""The route's OpenAPI operation (a plain Starlette route, added to the schema by the app)."""
OPENAPI_COMPONENTS = _ENVELOPE_COMPONENTS


async def receive_waha_webhook(request: Request) -> Response:
    """`POST /webhooks/waha`, as a plain Starlette route: the hottest route skips FastAPI's
    per-request parameter machinery (about 60 us of CPU a request, measured).

    The signature is checked on the raw body before it is parsed whenever the key is known
    without it: a named channel's key (or the global one), or the global key (a delivery
    signed with it is authentic whatever its session). Only a delivery routed by its session
    and not signed with the global key, while some channels have keys of their own, is parsed
    first, to find its channel and so its key."""
    server = server_of(request)
    metrics = server.metrics
    directory = server.directory
    body = await request.body()
    name = request.query_params.get("channel") or None
    tenant = request.query_params.get("tenant") or "default"
    global_key = server.settings.webhook_hmac_key
    headers = request.headers
    if name:
        target = await directory.find(None, name, tenant)
        key = target.hmac_key if target and target.hmac_key else global_key
        signed = bool(key) and signature_valid(body, headers, key)
        if key and not signed:
            _reject(metrics, "signature", 401, _UNSIGNED)
        if target is None and not (signed or await _open(directory, global_key)):
            _reject(metrics, "signature", 401, _UNSIGNED)  # keyed channels stay unrevealed
        channel = target.channel if target else None
        try:
            envelope = parse_envelope(body)
        except WebhookRejected as refused:
            await _keep(server, refused.reason, body, channel)
            _reject(metrics, "malformed", refused.status, refused.reason)
    else:
        signed = bool(global_key) and signature_valid(body, headers, global_key)
        if global_key and not signed and not await directory.keys_exist():
            _reject(metrics, "signature", 401, _UNSIGNED)
        try:
            envelope = parse_envelope(body)
        except WebhookRejected as refused:
            if not (signed or await _open(directory, global_key)):
                _reject(metrics, "signature", 401, _UNSIGNED)
            await _keep(server, refused.reason, body, None)
            _reject(metrics, "malformed", refused.status, refused.reason)
        target = await directory.find(envelope, None, tenant, create=signed or not global_key)
        if target is None and not (signed or await _open(directory, global_key)):
            _reject(metrics, "signature", 401, _UNSIGNED)
        if target is not None and target.hmac_key and target.hmac_key != global_key:
            if not signature_valid(body, headers, target.hmac_key):
                _reject(metrics, "signature", 401, _UNSIGNED)
        elif target is not None and global_key and not signed:
            _reject(metrics, "signature", 401, _UNSIGNED)
    if target is None:
        where = f"channel {name!r}" if name else f"WAHA session {envelope.session!r}"
        reason = f"no channel for {where} (create it, or name it with ?channel=)"
        await _keep(server, reason, body, None, envelope.id)
        _reject(metrics, "unknown_channel", 404, reason)
    result = await server.live.deliver(target.channel, envelope)
    if result.outcome is Outcome.INVALID:
        _reject(metrics, "invalid", 422, result.reason or "invalid")
    if result.outcome is Outcome.MISSING:  # WAHA retries: the message may be on its way
        _reject(metrics, "unknown_message", 409, result.reason or "message not stored")
    event = envelope.event if envelope.event in KNOWN_EVENTS else "other"
    metrics.webhooks_received.labels(event).inc()
    return Response(_OUTCOMES[result.outcome], media_type="application/json")


ROUTE = Route("/webhooks/waha", receive_waha_webhook, methods=["POST"])
_OUTCOMES = {outcome: orjson.dumps({"outcome": str(outcome)}) for outcome in Outcome}
_UNSIGNED = "missing or wrong webhook signature"
_REASON_CHARS = 1_000


async def _open(directory: ChannelDirectory, global_key: str | None) -> bool:
    """Whether no webhook key applies anywhere (no global key, no channel with its own):
    then unsigned callers learn that a channel is unknown, and their refusals are kept."""
    return not global_key and not await directory.keys_exist()


async def _keep(
    server: ServerServices,
    reason: str,
    body: bytes,
    channel: Channel | None,
    envelope_id: str | None = None,
) -> None:
    """Keep a refused request as a dead letter of `channel` (bounded: `keep_request`), and
    drop that channel's oldest past `CHATPORT_DEAD_LETTERS_PER_CHANNEL`."""
    database = server.database
    kept = server.settings.dead_letters_per_channel

    def keep() -> None:
        for uow in database.transactions():
            with uow:
                webhook_receipts.keep_request(
                    uow.connection, database.ops, reason, body, channel, envelope_id
                )
                webhook_receipts.trim_dead_letters(
                    uow.connection, channel.id if channel else None, kept
                )
                uow.commit()

    await run_in_threadpool(keep)


def _reject(metrics: Metrics, label: str, status: int, reason: str) -> NoReturn:
    metrics.webhooks_rejected.labels(label).inc()
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 1] + "…"
    raise HTTPException(status, reason)
