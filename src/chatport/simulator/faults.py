"""The simulator's faults: what can go wrong with WAHA, and how often (seeded), injected as an
aiohttp middleware."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

_encode = msgspec.json.Encoder().encode


def _json(body: object, status: int) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")


@dataclass
class Faults:
    """What can go wrong, and how often (rates are per request, 0..1, seeded)."""

    error_rate: float = 0.0
    latency_ms: int = 0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    malformed_rate: float = 0.0
    failing_chats: set[str] = field(default_factory=set)
    seed: int = 0
    down_after: int | None = None
    """Answer every `/api/` request after the first `down_after` with 503, as a proxy does
    while WAHA restarts (0: down from the start; None: never)."""
    down_for: str | None = None
    """Answer 503 to every `/api/` request whose path contains this (an outage of one
    route, e.g. `/messages`: the chats list, their pages do not)."""
    requests: int = 0
    """How many `/api/` requests the server received (tests count what clients send)."""
    held: threading.Event | None = None
    """While this event is not set, `/api/` requests wait for it (tests hold a client in the
    middle of its work)."""


def fault_injection(faults: Faults):
    """The middleware that makes `faults` happen (it counts the `/api/` requests too)."""
    rng = random.Random(faults.seed)

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path.startswith("/api/"):
            faults.requests += 1
            if faults.held is not None and not faults.held.is_set():
                await asyncio.to_thread(faults.held.wait)
            down = faults.down_after is not None and faults.requests > faults.down_after
            if down or (faults.down_for is not None and faults.down_for in request.path):
                return _json({"statusCode": 503, "message": "Service Unavailable"}, 503)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if request.path.startswith("/api/") and "/sessions/" not in request.path:
            chat_id = request.match_info.get("chat_id")
            if chat_id in faults.failing_chats:
                return _engine_error(request, "chat keeps failing (simulated)")
            roll = rng.random()
            if roll < faults.error_rate:
                return _engine_error(request, "simulated engine error")
            roll -= faults.error_rate
            if roll < faults.timeout_rate:
                await asyncio.sleep(faults.timeout_seconds)
            elif roll - faults.timeout_rate < faults.malformed_rate:
                return web.Response(body=b'[{"id": "broken', content_type="application/json")
        return await handler(request)

    return middleware


def _engine_error(request: web.Request, message: str) -> web.Response:
    return _json(
        {
            "statusCode": 500,
            "exception": {"message": message, "name": "Error"},
            "request": {"path": request.path, "method": request.method},
        },
        500,
    )
