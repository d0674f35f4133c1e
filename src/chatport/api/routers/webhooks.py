"""`POST /webhooks/waha`: WAHA's webhook deliveries into the live path.

The channel is the one named by `?channel=` (and `?tenant=`), else the one answering to the
envelope's `session` (and `me.id` when several channels share a session name). Signatures are
checked with the channel's `webhook_hmac_key`, else `CHATPORT_WEBHOOK_HMAC_KEY`; without
either, deliveries are taken unsigned. Refused deliveries are answered 4xx with the reason and
kept in `dead_letters` (except those with a wrong signature, which are not trusted with
storage).
"""

from __future__ import annotations

import msgspec
import orjson
from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from chatport.api.deps import server_of
from chatport.api.metrics import Metrics
from chatport.live.writer import Outcome
from chatport.sources.waha.webhooks import (
    KNOWN_EVENTS,
    Envelope,
    WebhookRejected,
    parse_envelope,
    signature_valid,
)
from chatport.store import webhook_receipts
from chatport.store.database import Database

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
        "400": {"description": "Malformed JSON (kept in dead_letters)"},
        "401": {"description": "Missing or wrong HMAC signature"},
        "404": {"description": "No channel takes this delivery (kept in dead_letters)"},
        "409": {
            "description": "An ack, revoke or edit of a message not stored yet (WAHA retries "
            "it; nothing is kept)"
        },
        "422": {
            "description": "Not a WAHA envelope, or a message that cannot be stored (kept "
            "in dead_letters)"
        },
    },
}
"""The route's OpenAPI operation (a plain Starlette route, added to the schema by the app)."""
OPENAPI_COMPONENTS = _ENVELOPE_COMPONENTS


async def receive_waha_webhook(request: Request) -> Response:
    """`POST /webhooks/waha`, as a plain Starlette route: the hottest route skips FastAPI's
    per-request parameter machinery (about 60 us of CPU a request, measured)."""
    server = server_of(request)
    metrics = server.metrics
    body = await request.body()
    channel = request.query_params.get("channel") or None
    tenant = request.query_params.get("tenant") or "default"
    global_key = server.settings.webhook_hmac_key
    try:
        envelope = parse_envelope(body)
    except WebhookRejected as refused:
        if global_key and not signature_valid(body, request.headers, global_key):
            _reject(metrics, "signature", 401, "missing or wrong webhook signature")
        await _keep(server.database, refused.reason, body)
        _reject(metrics, "malformed", refused.status, refused.reason)
    target = await server.directory.find(envelope, channel, tenant)
    key = target.hmac_key if target and target.hmac_key else global_key
    if key and not signature_valid(body, request.headers, key):
        _reject(metrics, "signature", 401, "missing or wrong webhook signature")
    if target is None:
        where = f"channel {channel!r}" if channel else f"WAHA session {envelope.session!r}"
        reason = f"no channel for {where} (create it, or name it with ?channel=)"
        await _keep(server.database, reason, body, envelope_id=envelope.id)
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


async def _keep(
    database: Database, reason: str, body: bytes, envelope_id: str | None = None
) -> None:
    def keep() -> None:
        with database.unit_of_work() as uow:
            webhook_receipts.keep_request(
                uow.connection, database.ops, reason, body, None, envelope_id
            )
            uow.commit()

    await run_in_threadpool(keep)


def _reject(metrics: Metrics, label: str, status: int, reason: str):
    metrics.webhooks_rejected.labels(label).inc()
    raise HTTPException(status, reason)
