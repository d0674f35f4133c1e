"""How chatport reaches a WAHA server for an import: the client's limits from the settings
(`CHATPORT_WAHA_*`), and the first contact a new import makes before anything is stored."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chatport.outbound import OPERATOR, Trust
from chatport.sources.waha.circuit import CircuitSettings
from chatport.sources.waha.client import WahaClient, WahaSettings

if TYPE_CHECKING:
    from chatport.settings import Settings


def waha_settings(
    settings: Settings,
    url: str,
    session: str,
    api_key: str | None,
    *,
    page_size: int = 500,
    trust: Trust = OPERATOR,
) -> WahaSettings:
    """WAHA at `url` as the settings say to talk to it: request timeout, retries, backoff
    cap, circuit breaker."""
    return WahaSettings(
        url=url,
        session=session,
        api_key=api_key,
        page_size=page_size,
        timeout_seconds=settings.waha_timeout_seconds,
        attempts=settings.waha_retry_attempts,
        max_backoff_seconds=settings.waha_retry_max_seconds,
        circuit=CircuitSettings(
            threshold=settings.waha_circuit_threshold,
            open_seconds=settings.waha_circuit_open_seconds,
            give_up_seconds=settings.waha_give_up_minutes * 60,
        ),
        trust=trust,
    )


def first_contact(waha: WahaSettings) -> dict[str, Any]:
    """The session's info, once WAHA answered that it is WORKING; else the reason in one
    line, in seconds: WahaUnreachable (DNS, refused, TLS, no answer in time), WahaAuthError
    (a wrong or missing key), WahaSessionNotReady (no such session, or not WORKING)."""

    async def check() -> dict[str, Any]:
        async with WahaClient(waha) as client:
            return await client.check_session()

    return asyncio.run(check())
