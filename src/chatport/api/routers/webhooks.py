"""`POST /webhooks/waha`: WAHA's webhook deliveries into the live path.

The channel is the one named by `?channel=` (and `?tenant=`), else the one answering to the
envelope's `session` (and `me.id` when several channels share a session name). Signatures are
checked with the channel's `webhook_hmac_key`, else `CHATPORT_WEBHOOK_HMAC_KEY`; without
either, deliveries are taken unsigned. Refused deliveries are answered 4xx with the reason and
kept in `dead_letters` (except those with a wrong signature, which are not trusted with
storage).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import msgspec
import orjson
from fastapi import HTTPException, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from chatport.domain.model import Channel
from chatport.errors import NotFoundError
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
from chatport.store.tables import channels

_ENVELOPE_COMPONENTS = msgspec.json.schema_components(
    [Envelope], ref_template="#/components/schemas/{name}"
)[1]


@dataclass(frozen=True)
class Target:
    """Where a delivery goes, and the key its signature must match (None: unsigned is OK)."""

    channel: Channel
    hmac_key: str | None


class ChannelDirectory:
    """Channels for deliveries, remembered for `ttl` seconds (a webhook burst reads the
    database once).

    One lookup per key at a time: deliveries that arrive while a channel is being looked up
    wait for that lookup instead of each starting their own (a burst's first deliveries, or
    every delivery in flight when the entry expires, would otherwise all query the database,
    and with `create_unknown` race to create the channel). An expired entry keeps answering
    while its refresh runs in the background, so expiry never stalls the deliveries.
    """

    def __init__(self, database: Database, *, create_unknown: bool, ttl: float = 5.0) -> None:
        self.database = database
        self.create_unknown = create_unknown
        self.ttl = ttl
        self._cache: dict[tuple, tuple[float, Target | None]] = {}
        self._lookups: dict[tuple, asyncio.Future[Target | None]] = {}

    async def find(self, envelope: Envelope, name: str | None, tenant: str) -> Target | None:
        """The target of a delivery, or None when no channel takes it."""
        me_id = envelope.me.id if envelope.me else None
        key = ("name", tenant, name) if name else ("session", envelope.session, me_id)
        cached = self._cache.get(key)
        if cached is not None:
            if cached[0] <= time.monotonic() and key not in self._lookups:
                self._look_up(key, envelope.session, me_id, name, tenant)  # answered meanwhile
            return cached[1]
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = self._look_up(key, envelope.session, me_id, name, tenant)
        return await asyncio.shield(lookup)

    def _look_up(self, key: tuple, *args: str | None) -> asyncio.Future[Target | None]:
        """Start the lookup of `key` (its result goes into the cache when it succeeds)."""
        lookup = asyncio.ensure_future(run_in_threadpool(self._lookup, *args))
        self._lookups[key] = lookup

        def done(finished: asyncio.Future[Target | None]) -> None:
            del self._lookups[key]
            if finished.cancelled() or finished.exception() is not None:
                return  # the waiters see the error; the next delivery looks up again
            if len(self._cache) > 10_000:  # names come from requests: keep the memory bounded
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.ttl, finished.result())

        lookup.add_done_callback(done)
        return lookup

    def _lookup(
        self, session: str, me_id: str | None, name: str | None, tenant: str
    ) -> Target | None:
        with self.database.unit_of_work() as uow:
            connection = uow.connection
            if name:
                try:
                    channel = uow.channel(name, tenant)
                except NotFoundError:
                    return None
            else:
                found = webhook_receipts.channels_of_session(
                    connection, session, self.database.default_timeout
                )
                matching = [c for c, me in found if me_id and me == me_id]
                candidates = matching or [c for c, me in found if not me or not me_id]
                if len(candidates) != 1 and not (not candidates and self.create_unknown):
                    return None  # unknown, or ambiguous without `me.id` to tell them apart
                if candidates:
                    channel = candidates[0]
                else:
                    channel = uow.create_channel(
                        _free_name(connection, session), waha_session=session
                    )
                    uow.commit()
            key = connection.execute(
                select(channels.c.webhook_hmac_key).where(channels.c.id == channel.id)
            ).scalar_one()
        return Target(channel, key)


def _free_name(connection, session: str) -> str:
    taken = set(connection.execute(select(channels.c.name)).scalars())
    name, n = session, 1
    while name in taken:
        n += 1
        name = f"{session}-{n}"
    return name


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
    state = request.app.state
    body = await request.body()
    channel = request.query_params.get("channel") or None
    tenant = request.query_params.get("tenant") or "default"
    global_key = state.settings.webhook_hmac_key
    try:
        envelope = parse_envelope(body)
    except WebhookRejected as refused:
        if global_key and not signature_valid(body, request.headers, global_key):
            _reject(state, "signature", 401, "missing or wrong webhook signature")
        await _keep(state, refused.reason, body)
        _reject(state, "malformed", refused.status, refused.reason)
    target = await state.directory.find(envelope, channel, tenant)
    key = target.hmac_key if target and target.hmac_key else global_key
    if key and not signature_valid(body, request.headers, key):
        _reject(state, "signature", 401, "missing or wrong webhook signature")
    if target is None:
        where = f"channel {channel!r}" if channel else f"WAHA session {envelope.session!r}"
        reason = f"no channel for {where} (create it, or name it with ?channel=)"
        await _keep(state, reason, body, envelope_id=envelope.id)
        _reject(state, "unknown_channel", 404, reason)
    result = await state.live.deliver(target.channel, envelope)
    if result.outcome is Outcome.INVALID:
        _reject(state, "invalid", 422, result.reason or "invalid")
    if result.outcome is Outcome.MISSING:  # WAHA retries: the message may be on its way
        _reject(state, "unknown_message", 409, result.reason or "message not stored")
    event = envelope.event if envelope.event in KNOWN_EVENTS else "other"
    state.metrics.webhooks_received.labels(event).inc()
    return Response(_OUTCOMES[result.outcome], media_type="application/json")


ROUTE = Route("/webhooks/waha", receive_waha_webhook, methods=["POST"])
_OUTCOMES = {outcome: orjson.dumps({"outcome": str(outcome)}) for outcome in Outcome}


async def _keep(state, reason: str, body: bytes, envelope_id: str | None = None) -> None:
    database: Database = state.services.database

    def keep() -> None:
        with database.unit_of_work() as uow:
            webhook_receipts.keep_request(
                uow.connection, database.ops, reason, body, None, envelope_id
            )
            uow.commit()

    await run_in_threadpool(keep)


def _reject(state, label: str, status: int, reason: str):
    state.metrics.webhooks_rejected.labels(label).inc()
    raise HTTPException(status, reason)
