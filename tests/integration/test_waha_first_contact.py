"""A run's first contact with WAHA (the session check) over real loopback HTTP: a WAHA that
never answers fails at once, each reason named, whatever the circuit's patience; the
patience is for a WAHA that answered."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chatport.errors import WahaAuthError, WahaSessionNotReady, WahaUnreachable
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.circuit import CircuitSettings, circuit_state
from chatport.sources.waha.client import WahaClient, WahaSettings
from tests.servers import serve_asgi

WORLD = World(chats=3, messages=30, seed=3)
PATIENT = CircuitSettings(threshold=1, open_seconds=600, give_up_seconds=3600)
"""A circuit that would wait an hour: a first contact must not wait for it."""
QUICK = 15.0
"""Seconds well above what a first contact takes here (under a second), far below patience."""


def check(url: str, **options) -> None:
    """Check the session at `url`, raising what the client raises."""
    settings = WahaSettings(url=url, circuit=PATIENT, **options)

    async def run() -> None:
        async with WahaClient(settings) as client:
            await client.check_session()

    asyncio.run(run())


@contextmanager
def quickly() -> Iterator[None]:
    """The block ends (however) within QUICK seconds."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < QUICK


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, so nobody else takes it, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextmanager
def silent_server() -> Iterator[str]:
    """A server that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def answering(status: int, body: bytes = b'{"message": "no"}') -> Iterator[str]:
    """An HTTP server that answers every request with `status` and `body`."""

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with serve_asgi(app) as url:
        yield url


def test_a_refused_connection_fails_at_once_and_leaves_the_circuit_alone() -> None:
    with closed_port() as port, quickly():
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(WahaUnreachable, match="connection refused") as refused:
            check(url)
    assert str(refused.value).startswith(f"cannot reach WAHA at {url}:")
    assert asyncio.run(circuit_state(url)) == "closed"  # not a WAHA that went down


def test_a_host_that_does_not_resolve_is_named() -> None:
    dns = r"host chatport-test\.invalid does not resolve"
    with quickly(), pytest.raises(WahaUnreachable, match=dns):
        check("http://chatport-test.invalid:3000")


def test_tls_to_a_plain_http_port_is_a_tls_error() -> None:
    tls = "TLS handshake failed"
    with (
        simulator_in_thread(SimulatorConfig(WORLD)) as url,
        quickly(),
        pytest.raises(WahaUnreachable, match=tls),
    ):
        check(url.replace("http://", "https://"))


def test_a_server_that_never_answers_fails_after_the_request_timeout() -> None:
    silent = "did not answer within 0.5 s"
    with silent_server() as url, quickly(), pytest.raises(WahaUnreachable, match=silent):
        check(url, timeout_seconds=0.5)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_named_with_the_status(status: int) -> None:
    with answering(status) as url, pytest.raises(WahaAuthError) as refused:
        check(url, api_key="wrong")
    assert str(refused.value) == (
        f"WAHA at {url} refused the API key (HTTP {status}): check --api-key or WAHA_API_KEY"
    )


def test_a_missing_key_is_named() -> None:
    missing = r"wants an API key \(HTTP 401\)"
    with (
        simulator_in_thread(SimulatorConfig(WORLD, api_key="right")) as url,
        pytest.raises(WahaAuthError, match=missing),
    ):
        check(url)


def test_an_unknown_session_is_named_whether_waha_says_404_or_422() -> None:
    with answering(404) as url, pytest.raises(WahaSessionNotReady) as missing:
        check(url, session="sales")
    assert str(missing.value).startswith(f"WAHA at {url} has no session 'sales' (HTTP 404)")
    with (
        simulator_in_thread(SimulatorConfig(WORLD)) as url,
        pytest.raises(WahaSessionNotReady, match=r"has no session 'sales' \(HTTP 422\)"),
    ):
        check(url, session="sales")
