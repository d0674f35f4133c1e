"""A catch-up by hand: over the API (a job like any import, of kind `catch-up`), and with
`chatport import waha --catch-up`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from tests.e2e.test_cli import run
from tests.e2e.test_import_cli import stored
from tests.integration.test_console import Console
from tests.servers import serve_app
from tests.waiting import eventually

WORLD = World(chats=30, messages=2_000, seed=5)
DISPLAYABLE = sorted(r.timestamp for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[httpx.Client, Console]]:
    services = build(Settings(database_url=database_url, allow_private_urls=True))
    with services.database.unit_of_work() as uow:
        key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "acme")[0])
        uow.commit()
    with simulator_in_thread(SimulatorConfig(WORLD)) as waha, serve_app(services) as url:
        client = httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60)
        assert client.post("/v1/channels", json={"name": "bare"}).status_code == 201
        created = client.post(
            "/v1/channels", json={"name": "shop", "waha_url": waha, "waha_session": "default"}
        )
        assert created.status_code == 201
        yield client, Console(url, {"acme": key}, services)
    services.close()


def test_a_catch_up_over_the_api_is_an_import_job_of_its_own_kind(api) -> None:
    client, _ = api
    assert client.post("/v1/channels/nowhere/catch-up").status_code == 404
    assert client.post("/v1/channels/bare/catch-up").status_code == 422  # no waha_url
    started = client.post("/v1/channels/shop/catch-up")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["coalesced"] is False and body["workflow_id"] is None
    job = body["job"]
    assert job["kind"] == "catch-up" and job["status"] == "running"
    done = eventually(
        lambda: (
            (found := client.get(f"/v1/imports/{job['id']}").json())["status"] != "running"
            and found
        ),
        "the catch-up ends",
    )
    # a channel with nothing stored catches up from its creation: nothing of 2025 is read
    assert done["status"] == "completed" and done["counters"].get("created", 0) == 0
    assert [j["kind"] for j in client.get("/v1/imports").json()["items"]] == ["catch-up"]


def test_the_console_catches_a_channel_up(api) -> None:
    client, console = api
    browser = console.browser("acme")
    assert "Catch up now" in browser.get("/channels/shop").text
    assert "Catch up now" not in browser.get("/channels/bare").text
    started = browser.post("/channels/shop/catch-up")
    assert started.status_code == 303
    page = browser.get(started.headers["location"]).text
    assert "Catch-up of" in page
    refused = browser.post("/channels/bare/catch-up")
    assert refused.status_code == 422 and "no waha_url" in refused.text


def test_import_waha_catch_up_brings_in_what_was_missed(database_url: str) -> None:
    cut = DISPLAYABLE[len(DISPLAYABLE) // 2]
    until = datetime.fromtimestamp(cut, UTC).isoformat()
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        first = run("import", "waha", "--url", url, "--db", database_url, "--until", until)
        assert first.returncode == 0, first.stdout + first.stderr
        assert stored(database_url) == ([s for s in DISPLAYABLE if s <= cut], "completed")
        command = ["import", "waha", "--url", url, "--db", database_url, "--catch-up"]
        caught = run(*command)
        refused = run(*command, "--days", "3")
    assert caught.returncode == 0, caught.stdout + caught.stderr
    assert "catch-up job" in caught.stdout
    assert stored(database_url) == (DISPLAYABLE, "completed")
    assert refused.returncode == 2 and "--catch-up takes no" in refused.stdout + refused.stderr
