"""First contact with a WAHA server: its URL checked before any request, and why a first
session check got no answer, named in one line (`WahaUnreachable`).

The circuit breaker's patience (`circuit.py`) is for a WAHA that was working and went down; a
WAHA that never answered (a typo in the URL, nothing listening, a certificate refused) fails
the first session check of a run at once, without retries, in at most `FIRST_CONTACT_SECONDS`.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from chatport.errors import ConfigurationError, WahaSessionNotReady

FIRST_CONTACT_SECONDS = 30.0
"""The longest a first session check waits for WAHA (less when the request timeout is less)."""
CONNECT_SECONDS = 10.0
"""The longest any request waits for its TCP connection (less when its timeout is less)."""


def checked_url(url: str, name: str = "--url") -> str:
    """`url` when it is an http(s) URL with a host, else ConfigurationError naming `name`
    (`localhost:3000` would otherwise be taken for a URL of scheme `localhost`)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise ConfigurationError(f"{name}: not a URL: {url!r} ({error})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} needs http:// or https:// and a host, e.g. http://localhost:3000 (got {url!r})"
        )
    return url.strip()


def timeouts(total: float, *, first_contact: bool = False) -> aiohttp.ClientTimeout:
    """A request's timeouts: `total` (CHATPORT_WAHA_TIMEOUT_SECONDS), capped at
    FIRST_CONTACT_SECONDS for a first contact, and CONNECT_SECONDS at most to connect."""
    if first_contact:
        total = min(total, FIRST_CONTACT_SECONDS)
    return aiohttp.ClientTimeout(total=total, sock_connect=min(total, CONNECT_SECONDS))


def unreachable(url: str, error: BaseException, seconds: float) -> str:
    """Why WAHA at `url` gave no answer, as one line: the host does not resolve, refused
    the connection, failed the TLS handshake, or did not answer within `seconds`."""
    where = f"WAHA at {url}"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        host = error.host
        return f"cannot reach {where}: its host {host} does not resolve (DNS)"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        reason = _first_line(error.certificate_error)
        return f"cannot reach {where}: its TLS certificate was refused ({reason})"
    if isinstance(error, (aiohttp.ClientSSLError, ssl.SSLError)):
        cause = getattr(error, "os_error", error)
        return f"cannot reach {where}: the TLS handshake failed ({_first_line(cause)})"
    if isinstance(error, aiohttp.ClientConnectorError):
        os_error = error.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return f"cannot reach {where}: connection refused (is WAHA running there?)"
        if isinstance(os_error, TimeoutError):
            return f"cannot reach {where}: no connection within {_seconds(seconds)}"
        if isinstance(os_error, ConnectionResetError):
            hint = " (is that port TLS?)" if url.lower().startswith("https:") else ""
            return f"cannot reach {where}: the connection was reset{hint}"
        reason = os_error.strerror or _first_line(os_error)
        return f"cannot reach {where}: cannot connect ({reason})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return f"{where} closed the connection without answering (is it WAHA?)"
    if isinstance(error, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return f"{where} did not answer within {_seconds(seconds)}"
    return f"cannot reach {where}: {type(error).__name__}: {_first_line(error)}"


def session_missing(url: str, session: str, status: int) -> WahaSessionNotReady:
    """A WAHA (or not-WAHA) server at `url` that knows no session `session` (HTTP `status`)."""
    return WahaSessionNotReady(
        f"WAHA at {url} has no session {session!r} (HTTP {status}): check --session "
        "(and that --url is WAHA's)"
    )


def says_session_missing(body: bytes) -> bool:
    """Whether a 422 answer says the session does not exist (WAHA: `{"error": "Session \\"x\\"
    does not exist"}`), rather than that it is not WORKING."""
    try:
        answer: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    error = answer.get("error") if isinstance(answer, dict) else None
    return isinstance(error, str) and "does not exist" in error


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__


def _seconds(seconds: float) -> str:
    return f"{seconds:g} s"
