"""A circuit breaker per WAHA server (purgatory), shared by every client in the process.

Only signs that the server itself is down count: connection errors, timeouts, 429, 502, 503,
504 (`ServerDown`). After `threshold` of them in a row the server's circuit opens and nobody
sends it anything for `open_seconds`; then requests probe it (half-open), and the first success
closes it. While the circuit is open, callers wait instead of failing, and their waiting does
not use up their own retries: a WAHA restart pauses an import, it does not fail every chat. When
the outage has lasted `give_up_seconds`, callers get WahaDown (the import stops resumably).
A failure below the threshold is raised to the caller, whose retry policy decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import CLOSED, OpenedState

from chatport.errors import WahaDown

T = TypeVar("T")


class ServerDown(Exception):
    """A failure that says the server is down or overloaded; it counts against its circuit."""


@dataclass(frozen=True)
class CircuitSettings:
    threshold: int = 5
    open_seconds: float = 30.0
    give_up_seconds: float = 600.0


_BREAKERS = AsyncCircuitBreakerFactory(
    exclude=[(BaseException, lambda error: not isinstance(error, ServerDown))]
)
_outage_since: dict[str, float] = {}
_last_failure: dict[str, str] = {}


async def through_circuit(
    server: str, settings: CircuitSettings, call: Callable[[], Awaitable[T]]
) -> T:
    """`await call()` through `server`'s circuit (see the module's docstring)."""
    while True:
        breaker = await _BREAKERS.get_breaker(
            server, threshold=settings.threshold, ttl=settings.open_seconds
        )
        try:
            async with breaker:
                result = await call()
            _outage_since.pop(server, None)
            return result
        except OpenedState as opened:
            await asyncio.sleep(max(opened.opened_at + breaker.context.ttl - time.time(), 0) + 0.01)
            continue
        except ServerDown as failure:
            if breaker.context.state == CLOSED:
                raise
            _last_failure[server] = str(failure)
        started = _outage_since.setdefault(server, time.time())
        if time.time() - started + breaker.context.ttl > settings.give_up_seconds:
            raise WahaDown(
                f"WAHA at {server} is down: no answer for {time.time() - started:.0f} s "
                f"after {breaker.context.threshold} failures in a row (last: "
                f"{_last_failure.get(server, 'unknown')}); resume when it is back"
            ) from None
        await asyncio.sleep(breaker.context.ttl + 0.01)


async def circuit_state(server: str) -> str:
    """`closed`, `opened` or `half-opened`."""
    return (await _BREAKERS.get_breaker(server)).context.state
