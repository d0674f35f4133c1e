"""The WAHA client against the simulator, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from chatport.errors import WahaAuthError, WahaDown, WahaSessionNotReady, WahaUnavailable
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.circuit import CircuitSettings, circuit_state
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.sources.waha.messages import WahaPayload
from tests.waiting import PATIENCE

WORLD = World(chats=40, messages=3_000, seed=3)


@pytest.fixture
def waha() -> Iterator[str]:
    with simulator_in_thread(SimulatorConfig(WORLD, api_key="secret")) as url:
        yield url


def settings(url: str, **overrides) -> WahaSettings:
    values = {
        "url": url,
        "api_key": "secret",
        "page_size": 37,
        "max_backoff_seconds": 0.05,
        "circuit": CircuitSettings(open_seconds=0.2),
    }
    return WahaSettings(**{**values, **overrides})


async def all_messages(client: WahaClient, chat_id: str, **window) -> list[WahaPayload]:
    return [m.data async for page in client.messages(chat_id, **window) for m in page]


def expected(chat_index: int, since: int | None = None, until: int | None = None) -> list[str]:
    chat = WORLD.chats[chat_index]
    return [
        r.message["id"]
        for r in reversed(WORLD.messages(chat))
        if not r.hidden
        and (since is None or r.timestamp >= since)
        and (until is None or r.timestamp <= until)
    ]


def test_session_chats_messages_and_lids(waha: str) -> None:
    async def run():
        async with WahaClient(settings(waha)) as client:
            info = await client.check_session()
            chats = [chat async for chat in client.chats()]
            biggest = max(range(len(WORLD.chats)), key=lambda i: WORLD.chats[i].message_count)
            messages = await all_messages(client, WORLD.chats[biggest].id)
            return info, chats, biggest, messages, await client.lid_map()

    info, chats, biggest, messages, lids = asyncio.run(run())
    assert info["status"] == "WORKING"
    assert sorted(c.id for c in chats) == sorted(c.id for c in WORLD.chats)
    stamps = [c.last_timestamp for c in chats]
    assert stamps == sorted(stamps, reverse=True)
    assert [m.id for m in messages] == expected(biggest)  # every message once, short pages too
    assert lids == dict(WORLD.lids)


def test_a_time_window_limits_the_messages(waha: str) -> None:
    records = WORLD.messages(WORLD.chats[0])
    since, until = records[len(records) // 4].timestamp, records[len(records) // 2].timestamp

    async def run():
        async with WahaClient(settings(waha)) as client:
            return await all_messages(client, WORLD.chats[0].id, since=since, until=until)

    assert [m.id for m in asyncio.run(run())] == expected(0, since, until)


def test_a_wrong_key_and_a_session_not_working_are_clear_errors(waha: str) -> None:
    async def check(url: str = waha, **overrides):
        async with WahaClient(settings(url, **overrides)) as client:
            await client.check_session()

    with pytest.raises(WahaAuthError, match="API key"):
        asyncio.run(check(api_key="wrong"))
    with pytest.raises(WahaSessionNotReady, match="has no session 'other'"):
        asyncio.run(check(session="other"))
    with (
        simulator_in_thread(SimulatorConfig(WORLD, status="SCAN_QR_CODE")) as url,
        pytest.raises(WahaSessionNotReady, match="SCAN_QR_CODE"),
    ):
        asyncio.run(check(url, api_key=None))


def test_errors_and_garbage_pages_are_retried_until_complete() -> None:
    faults = Faults(error_rate=0.25, malformed_rate=0.15, seed=11)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=faults)) as url:

        async def run():
            async with WahaClient(settings(url, api_key=None, attempts=12)) as client:
                return await all_messages(client, WORLD.chats[1].id)

        assert [m.id for m in asyncio.run(run())] == expected(1)


def test_a_chat_that_keeps_failing_gives_up_with_the_reason() -> None:
    failing = WORLD.chats[2].id
    config = SimulatorConfig(WORLD, faults=Faults(failing_chats={failing}))
    with simulator_in_thread(config) as url:

        async def run():
            async with WahaClient(settings(url, api_key=None, attempts=3)) as client:
                return await all_messages(client, failing)

        with pytest.raises(WahaUnavailable, match="keeps failing"):
            asyncio.run(run())
        assert config.faults.requests == 3  # the first attempt and two retries, no more
        # an engine error (500) on one chat is that request's problem, not a server outage
        assert asyncio.run(circuit_state(url)) == "closed"


def test_timeouts_are_retried() -> None:
    faults = Faults(timeout_rate=0.3, timeout_seconds=5, seed=2)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=faults)) as url:

        async def run():
            client_settings = settings(url, api_key=None, attempts=10, timeout_seconds=0.5)
            async with WahaClient(client_settings) as client:
                return await all_messages(client, WORLD.chats[5].id)

        assert [m.id for m in asyncio.run(run())] == expected(5)


def test_a_waha_without_the_overview_is_listed_through_chats() -> None:
    with simulator_in_thread(SimulatorConfig(WORLD, overview=False)) as url:

        async def run():
            async with WahaClient(settings(url, api_key=None, chats_page_size=7)) as client:
                return [chat async for chat in client.chats()]

        chats = asyncio.run(run())
    assert sorted(c.id for c in chats) == sorted(c.id for c in WORLD.chats)
    assert all(c.last_timestamp for c in chats)


def test_a_missing_route_is_a_waha_error_not_a_crash(waha: str) -> None:
    async def run():
        async with WahaClient(settings(waha)) as client:
            async for _ in client.chats():
                pass
            return await client._get(lambda body: body, "/api/default/no-such-route")

    with pytest.raises(WahaUnavailable, match="404"):
        asyncio.run(run())


def test_a_server_that_is_down_opens_its_circuit_and_is_not_hammered() -> None:
    faults = Faults(down_after=0)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=faults)) as url:
        circuit = CircuitSettings(threshold=3, open_seconds=0.25, give_up_seconds=1.5)
        client_settings = settings(url, api_key=None, attempts=200, max_backoff_seconds=0.01)

        async def run():
            async with WahaClient(replace(client_settings, circuit=circuit)) as client:
                return await all_messages(client, WORLD.chats[0].id)

        started = time.monotonic()
        with pytest.raises(WahaDown, match="is down") as down:
            asyncio.run(run())
        elapsed = time.monotonic() - started
    assert "503" in str(down.value)
    assert 1.0 < elapsed < PATIENCE  # gave up after its patience (1.5 s), not at once
    # 3 failures open the circuit, then one probe per 0.25 s: nowhere near the 200 attempts
    assert faults.requests <= 3 + 1.5 / 0.25 + 2


def test_an_outage_pauses_requests_without_using_up_their_retries() -> None:
    faults = Faults(down_after=0)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=faults)) as url:
        circuit = CircuitSettings(threshold=2, open_seconds=0.2, give_up_seconds=30)
        client_settings = replace(settings(url, api_key=None, attempts=3), circuit=circuit)
        threading.Timer(1.5, lambda: setattr(faults, "down_after", None)).start()

        async def run():
            async with WahaClient(client_settings) as client:
                return await all_messages(client, WORLD.chats[3].id)

        assert [m.id for m in asyncio.run(run())] == expected(3)
        assert asyncio.run(circuit_state(url)) == "closed"
