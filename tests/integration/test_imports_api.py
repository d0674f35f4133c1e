"""Import jobs over the REST API: started in the background, followed by SSE, retried."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from tests.servers import serve_app
from tests.waiting import eventually

WORLD = World(chats=40, messages=3_000, seed=5)
DISPLAYABLE = sum(1 for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)
BROKEN = WORLD.chats[3].id


@pytest.fixture
def setup(database_url: str) -> Iterator[tuple[httpx.Client, httpx.Client, Faults]]:
    faults = Faults(failing_chats={BROKEN})
    # the tenant's WAHA is the simulator, on loopback: the operator allows private URLs
    services = build(Settings(database_url=database_url, allow_private_urls=True))
    with services.database.unit_of_work() as uow:
        keys = [
            tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, name)[0])
            for name in ("acme", "globex")
        ]
        uow.commit()
    config = SimulatorConfig(world=WORLD, faults=faults)
    with simulator_in_thread(config) as waha, serve_app(services) as url:
        acme, globex = (
            httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60) for key in keys
        )
        created = acme.post(
            "/v1/channels", json={"name": "shop", "waha_url": waha, "waha_session": "default"}
        )
        assert created.status_code == 201
        yield acme, globex, faults
    services.close()


def events(client: httpx.Client, job_id: str) -> list[tuple[str, dict]]:
    """The SSE stream of a job, read to its end."""
    found = []
    with client.stream("GET", f"/v1/imports/{job_id}/progress") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for block in response.read().decode().split("\n\n"):
            if block.strip():
                name, data = block.split("\n", 1)
                found.append(
                    (name.removeprefix("event: "), orjson.loads(data.removeprefix("data: ")))
                )
    return found


def test_an_import_runs_in_the_background_streams_progress_and_retries_failed_chats(setup):
    acme, globex, faults = setup
    started = acme.post("/v1/channels/shop/imports", json={"page_size": 100, "chunk_size": 400})
    assert started.status_code == 202
    job = started.json()
    assert job["status"] == "running" and job["channel"] == "shop"
    assert globex.get(f"/v1/imports/{job['id']}").status_code == 404  # another tenant's job
    stream = events(acme, job["id"])
    assert stream[-1][0] == "end" and len(stream) >= 2
    assert all(name == "progress" for name, _ in stream[:-1])
    assert "messages" in stream[0][1] and "chats_done" in stream[0][1]
    final = stream[-1][1]
    assert final["error"] is None, final["error"]
    assert final["status"] == "failed_chats" and list(final["failed_chats"]) == [BROKEN]
    assert final["counters"]["chats_failed"] == 1 and final["running_here"] is False
    assert acme.post(f"/v1/imports/{job['id']}/resume").status_code == 202  # not completed
    eventually(
        lambda: not acme.get(f"/v1/imports/{job['id']}").json()["running_here"],
        "the resumed job (nothing left to fetch but the failed chat) ended",
        every=0.1,
    )

    faults.failing_chats.clear()  # the chat heals: retry fetches only it
    assert acme.post(f"/v1/imports/{job['id']}/retry").status_code == 202
    retried = events(acme, job["id"])
    assert retried[-1][1]["status"] == "completed"
    chats = len(WORLD.chats)  # a retry's figures are the job's: 39 done before, 1 retried
    for _, report in retried[:-1]:
        assert (report["chats_planned"], report["chats_planned_estimated"]) == (chats, False)
        assert report["chats_done"] + report["chats_failed"] <= chats
    done = acme.get(f"/v1/imports/{job['id']}").json()
    assert done["failed_chats"] == {} and done["counters"]["created"] == DISPLAYABLE
    assert acme.post(f"/v1/imports/{job['id']}/retry").status_code == 409
    assert acme.post(f"/v1/imports/{job['id']}/resume").status_code == 409
    assert [j["id"] for j in acme.get("/v1/imports").json()["items"]] == [job["id"]]
    assert globex.get("/v1/imports").json()["items"] == []
    metrics = acme.get("/metrics").text
    assert f'chatport_messages_written_total{{origin="import"}} {float(DISPLAYABLE)}' in metrics
    messages = 'endpoint="{session}/chats/{id}/messages"'
    for sample in (
        f'chatport_waha_request_seconds_count{{{messages},outcome="ok"}}',
        f'chatport_waha_request_errors_total{{{messages},outcome="500"}}',  # the broken chat
        'chatport_waha_request_seconds_count{endpoint="sessions/{session}",outcome="ok"}',
        "chatport_import_chunk_seconds_count ",
        "chatport_import_chunk_messages_sum ",
        "# TYPE chatport_import_chats_planned gauge",  # by job, while one runs
        "process_cpu_seconds_total ",
        "python_info{",
        "python_gc_collections_total{",
    ):
        assert sample in metrics, sample


def test_bad_import_requests_are_refused_with_the_reason(setup):
    acme, globex, _ = setup
    assert acme.post("/v1/channels/nope/imports", json={}).status_code == 404
    assert globex.post("/v1/channels/shop/imports", json={}).status_code == 404
    both = acme.post("/v1/channels/shop/imports", json={"days": 3, "since": "2026-01-01T00:00Z"})
    assert both.status_code == 422 and "days or since" in both.text
    naive = acme.post("/v1/channels/shop/imports", json={"since": "2026-01-01T00:00"})
    assert naive.status_code == 422
    acme.post("/v1/channels", json={"name": "bare"})
    assert acme.post("/v1/channels/bare/imports", json={}).status_code == 422


def test_an_import_whose_waha_does_not_answer_is_refused_and_leaves_no_job(setup):
    acme, _, _ = setup
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    acme.post("/v1/channels", json={"name": "gone", "waha_url": closed, "waha_session": "x"})
    refused = acme.post("/v1/channels/gone/imports", json={})
    assert refused.status_code == 422, refused.text
    assert "connection refused" in refused.json()["detail"]
    assert acme.get("/v1/imports").json()["items"] == []


def test_one_chat_is_imported_on_request(setup):
    acme, _, _ = setup
    bad = acme.post("/v1/channels/shop/imports", json={"chat_id": "not a chat"})
    assert bad.status_code == 422 and "chat_id" in bad.text
    chat = next(c for c in WORLD.chats if c.id.endswith("@c.us") and c.id != BROKEN)
    started = acme.post("/v1/channels/shop/imports", json={"chat_id": chat.id.split("@")[0]})
    assert started.status_code == 202, started.text
    job = started.json()

    def ended() -> dict | None:
        got = acme.get(f"/v1/imports/{job['id']}").json()
        return got if got["status"] != "running" else None

    job = eventually(ended, "the one chat's import ended")
    assert job["status"] == "completed", job
    expected = sum(1 for r in WORLD.messages(chat) if not r.hidden)
    assert job["counters"]["created"] == expected and job["counters"]["chats_done"] == 1
    listed = acme.get("/v1/channels/shop/chats").json()["items"]
    assert [c["chat_id"] for c in listed] == [chat.id]
