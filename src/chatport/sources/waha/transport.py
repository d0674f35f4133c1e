"""WAHA over HTTP: where it is (`WahaSettings`), the session, and one GET of its API.

`WahaTransport._get` retries transient failures (5xx, timeouts, connection errors, malformed
pages) with exponential backoff and jitter (tenacity), not 401, 403 and 422; sends every request
through the server's circuit breaker (`circuit.py`) but a run's first contact, which fails at
once when WAHA gives no answer (`reach.py`); and maps each answer's status to an error of
`chatport.errors`, or to `NotFound` (a 404 its caller has a fallback for). `client.py`'s
`WahaClient` builds WAHA's routes on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import msgspec
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from chatport.errors import WahaAuthError, WahaSessionNotReady, WahaUnavailable, WahaUnreachable
from chatport.outbound import OPERATOR, Trust, answer_detail, client_session
from chatport.sources.waha.circuit import CircuitSettings, ServerDown, through_circuit
from chatport.sources.waha.reach import says_session_missing, session_missing, timeouts, unreachable


class _Transient(Exception):
    """A failure worth retrying."""


class _ServerDown(_Transient, ServerDown):
    """A failure worth retrying that also says the server is down (it feeds the circuit)."""


class NotFound(Exception):
    """404: the route (or object) does not exist on this WAHA."""


@dataclass(frozen=True)
class WahaSettings:
    """Where WAHA is and how to talk to it."""

    url: str
    session: str = "default"
    api_key: str | None = None
    page_size: int = 500
    chats_page_size: int = 100
    timeout_seconds: float = 120.0
    """How long one request may take (CHATPORT_WAHA_TIMEOUT_SECONDS)."""
    attempts: int = 5
    """Attempts of a request that fails transiently (CHATPORT_WAHA_RETRY_ATTEMPTS)."""
    max_backoff_seconds: float = 30.0
    """The longest wait between two attempts (CHATPORT_WAHA_RETRY_MAX_SECONDS)."""
    circuit: CircuitSettings = CircuitSettings()
    trust: Trust = OPERATOR
    """Who gave the URL (`outbound.py`): a tenant's WAHA is reached at public addresses only
    (unless private networks are allowed) and what it answers stays out of errors."""


class WahaTransport:
    """The HTTP session to one WAHA and its GET; `async with` opens and closes the session."""

    def __init__(
        self,
        settings: WahaSettings,
        *,
        http: aiohttp.ClientSession | None = None,
        trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        """`trace`: an aiohttp trace config for the requests (metrics: `request_trace.py`),
        when the client makes its own session."""
        self.settings = settings
        self._trace = trace
        self._http = http
        self._owns_http = http is None
        # a session shared with other WAHAs (`http`) carries no API key: each request does
        key = settings.api_key
        self._headers = {"X-Api-Key": key} if key and http is not None else None
        self._timeout = timeouts(settings.timeout_seconds)
        self._first_timeout = timeouts(settings.timeout_seconds, first_contact=True)

    async def __aenter__(self) -> Self:
        if self._http is None:
            headers = {"X-Api-Key": self.settings.api_key} if self.settings.api_key else {}
            self._http = client_session(
                self.settings.trust,
                limit=64,
                headers=headers,
                timeout=self._timeout,
                trace_configs=[self._trace] if self._trace else None,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _detail(self, what: str, body: bytes, limit: int = 300) -> str:
        return answer_detail(self.settings.trust, what, body, limit)

    @property
    def _base(self) -> str:
        return self.settings.url.rstrip("/")

    def _path(self, rest: str) -> str:
        return f"/api/{quote(self.settings.session)}/{rest}"

    async def _get(
        self,
        decode: Callable[[bytes], Any],
        path: str,
        *,
        missing_ok: bool = False,
        first_contact: bool = False,
        **params: Any,
    ) -> Any:
        """GET with retries; returns the body decoded by `decode` (a malformed body is retried).
        A 404 raises NotFound when `missing_ok` (the caller has a fallback), else
        WahaUnavailable. A `first_contact` is not sent through the circuit, and no answer at
        all raises WahaUnreachable at once."""

        def once() -> Awaitable[Any]:
            if first_contact:
                return self._get_once(decode, path, params, first_contact=True)
            return through_circuit(
                self._base, self.settings.circuit, lambda: self._get_once(decode, path, params)
            )

        try:
            # The first attempt is made before tenacity is involved: setting up its retry loop
            # costs about 25 us, a fifth of a request's CPU, and nearly every request succeeds.
            try:
                return await once()
            except _Transient as error:
                failed: _Transient | None = error
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(_Transient),
                stop=stop_after_attempt(self.settings.attempts),
                wait=wait_random_exponential(multiplier=0.2, max=self.settings.max_backoff_seconds),
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    if failed is not None:  # the loop's first attempt is the one made above
                        error, failed = failed, None
                        raise error
                    return await once()
        except _Transient as error:
            raise WahaUnavailable(
                f"GET {path}: {error} (after {self.settings.attempts} attempts)"
            ) from None
        except NotFound:
            if missing_ok:
                raise
            raise WahaUnavailable(f"GET {path}: HTTP 404") from None
        raise AssertionError("unreachable")

    async def _get_once(
        self,
        decode: Callable[[bytes], Any],
        path: str,
        params: dict[str, Any],
        *,
        first_contact: bool = False,
    ) -> Any:
        assert self._http is not None, "use the client in `async with`"
        url = self._base + path
        limit = self._first_timeout if first_contact else self._timeout
        try:
            async with self._http.get(
                url, params=params, headers=self._headers, timeout=limit
            ) as response:
                body = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as error:
            if first_contact:
                raise WahaUnreachable(unreachable(self._base, error, limit.total or 0)) from None
            raise _ServerDown(f"{type(error).__name__}: {error}") from error
        if status in (401, 403):
            given = "refused the API key" if self.settings.api_key else "wants an API key"
            raise WahaAuthError(
                f"WAHA at {self._base} {given} (HTTP {status}): check --api-key or WAHA_API_KEY"
            )
        if status == 422:
            if first_contact and says_session_missing(body):
                raise session_missing(self._base, self.settings.session, 422)
            reason = self._detail(f"GET {path}: HTTP 422", body)
            raise WahaSessionNotReady(f"WAHA session not ready (422){reason}")
        if status == 404:
            raise NotFound(path)
        if status in (429, 502, 503, 504):
            raise _ServerDown(
                f"HTTP {status}" + self._detail(f"GET {path}: HTTP {status}", body, 200)
            )
        if status >= 500:
            raise _Transient(
                f"HTTP {status}" + self._detail(f"GET {path}: HTTP {status}", body, 200)
            )
        if status >= 400:
            failed = f"GET {path}: HTTP {status}"
            raise WahaUnavailable(failed + self._detail(failed, body))
        try:
            return decode(body)
        except msgspec.DecodeError as error:
            raise _Transient(f"malformed JSON page: {error}") from error
