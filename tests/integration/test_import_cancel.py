"""Cancelling imports on the in-process engine, on both back ends: a job cancelled from
elsewhere (another process, through the store) stops at its next chunk or heartbeat, ends
`cancelled`, writes nothing after the cancel, and is never resumed; deleting a channel in the
middle of its import (the API) stops the run and leaves no row of it. A job whose run died
shows `stalled` with the resume hint (API, CLI)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from chatport.api.app import create_app
from chatport.bootstrap import Services, build
from chatport.engines.cancel import cancel_import
from chatport.engines.inprocess.runner import ImportRunner
from chatport.errors import JobCancelled, JobEnded
from chatport.ingest import import_jobs
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from chatport.store.channels import remember_waha
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs import leases
from chatport.store.tables import import_jobs as import_jobs_table
from chatport.store.tables import messages
from tests.integration.test_channel_lifecycle import cli, counts
from tests.servers import serve_asgi
from tests.waiting import PATIENCE, eventually

WORLD = World(chats=30, messages=3_000, seed=7)
WORLD_MESSAGES = sum(1 for chat in WORLD.chats for _ in WORLD.messages(chat))
PARAMS = {"page_size": 100, "chunk_size": 200, "concurrency": 1, "fetchers": 1}


@pytest.fixture
def waha(database_url: str, monkeypatch) -> Iterator[tuple[Services, Faults, str]]:
    """Services (the tenant `acme` owns the default channel), and a slow simulated WAHA whose
    answers the test can hold (`faults.held`)."""
    monkeypatch.setattr(leases, "HEARTBEAT_EVERY", timedelta(seconds=0.2))
    services = build(Settings(database_url=database_url, allow_private_urls=True))
    faults = Faults(latency_ms=30)
    try:
        with simulator_in_thread(SimulatorConfig(world=WORLD, faults=faults)) as url:
            database = services.database
            channel = database.channel()
            with database.unit_of_work() as uow:
                remember_waha(
                    uow.connection,
                    channel,
                    url,
                    "default",
                    None,
                    trusted=True,
                    secrets=database.secrets,
                )
                uow.commit()
            yield services, faults, url
    finally:
        if faults.held is not None:
            faults.held.set()
        services.close()


def stored_messages(services: Services, channel_id: int) -> int:
    with services.database.engine.connect() as connection:
        query = select(func.count()).where(messages.c.channel_id == channel_id)
        return connection.execute(query).scalar_one()


def test_a_job_cancelled_elsewhere_stops_writing_and_ends_cancelled(waha) -> None:
    services, faults, _ = waha
    database = services.database
    channel = database.channel()
    job = import_jobs.create_job(database, channel, None, datetime.now(UTC), PARAMS)
    runner, ended, outcome = ImportRunner(services), threading.Event(), {}
    runner.start(job, on_end=lambda run: (outcome.update(status=run.status), ended.set()))
    eventually(lambda: (runner.report(job.id) or {}).get("created"), "a chunk committed")
    faults.held = threading.Event()  # WAHA stops answering: the run waits in the middle

    cancelled = cancel_import(services, job.id)  # through the store only, as another process

    assert cancelled.status == "cancelled" and cancelled.owner is None
    written = stored_messages(services, channel.id)
    assert ended.wait(PATIENCE), "the run did not stop"
    faults.held.set()
    assert outcome["status"] == "cancelled"
    assert stored_messages(services, channel.id) == written  # nothing after the cancel
    assert 0 < written < WORLD_MESSAGES
    with database.engine.connect() as connection:
        assert jobs.load_job(connection, job.id).status == "cancelled"
    with pytest.raises(JobCancelled):
        import_jobs.reopen(database, str(job.id))  # never resumed
    assert cancel_import(services, job.id).status == "cancelled"  # again: as it is


@contextmanager
def importing_over_the_api(services: Services) -> Iterator[tuple[httpx.Client, Any, str]]:
    """A server over `services` (its API client, its app) running an import of the default
    channel started through the API, once the import has committed a chunk."""
    database = services.database
    with database.unit_of_work() as uow:
        key = tenants.create_key(
            uow.connection, tenants.ensure_tenant(uow.connection, "default")[0]
        )
        uow.commit()
    app = create_app(services)
    with serve_asgi(app) as url:
        api = httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=PATIENCE)
        started = api.post("/v1/channels/default/imports", json=PARAMS)
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        eventually(
            lambda: api.get(f"/v1/imports/{job_id}").json()["counters"].get("created"),
            "a chunk committed",
        )
        yield api, app, job_id


def test_deleting_a_channel_mid_import_stops_it_and_leaves_nothing(waha) -> None:
    services, faults, _ = waha
    database = services.database
    with importing_over_the_api(services) as (api, app, job_id):
        faults.held = threading.Event()
        channel_id = database.channel().id

        deleted = api.delete("/v1/channels/default")

        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["deleted"]["messages"] > 0
        runner = app.state.server.imports
        assert runner.count() == 0  # the run has stopped: nothing retries
        faults.held.set()
        assert set(counts(database, channel_id).values()) == {0}
        assert api.get(f"/v1/imports/{job_id}").status_code == 404
        assert api.get("/v1/imports").json()["items"] == []


def test_a_server_shutting_down_stops_its_imports_and_leaves_them_resumable(waha) -> None:
    services, _, _ = waha
    database = services.database
    with importing_over_the_api(services) as (_, app, job_id):
        runner = app.state.server.imports
    # the server has stopped: its run too, not left beating a lease with nobody to serve it
    assert runner.count() == 0
    with database.engine.connect() as connection:
        job = jobs.load_job(connection, job_id)
    assert job.status == "interrupted"
    resumed = import_jobs.reopen(database, job_id)
    assert resumed.status == "running"


def test_a_job_whose_run_died_shows_stalled_with_the_resume_hint(sqlite_url, capsys) -> None:
    services = build(Settings(database_url=sqlite_url))
    database = services.database
    try:
        channel = database.channel()
        with database.unit_of_work() as uow:
            key = tenants.create_key(
                uow.connection, tenants.ensure_tenant(uow.connection, "default")[0]
            )
            remember_waha(
                uow.connection,
                channel,
                "http://127.0.0.1:9",
                "default",
                None,
                secrets=database.secrets,
            )
            uow.commit()
        job = import_jobs.create_job(database, database.channel(), None, datetime.now(UTC), {})
        stale = datetime.now(UTC) - leases.STALE_AFTER - timedelta(seconds=5)
        with database.unit_of_work() as uow:
            uow.connection.execute(
                update(import_jobs_table)
                .where(import_jobs_table.c.id == job.id)
                .values(heartbeat_at=stale, owner="elsewhere/1/x")
            )
            uow.commit()
        app = create_app(services)
        with serve_asgi(app) as url:
            api = httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=PATIENCE)
            shown = api.get(f"/v1/imports/{job.id}").json()
            assert shown["status"] == "stalled"
            assert f"chatport import resume {job.id}" in shown["hint"]
            listed = {item["id"]: item for item in api.get("/v1/imports").json()["items"]}
            assert listed[str(job.id)]["status"] == "stalled"  # (a catch-up runs too)
            page = _console(url, key).get(f"/imports/{job.id}").text
            assert "Stalled" in page and f"chatport import resume {job.id}" in page
            code, said = cli(capsys, "import", "status", str(job.id), "--db", sqlite_url)
            assert code == 0 and "stalled" in said
            assert f"chatport import resume {job.id}" in said.replace("\n", "")
            # cancelled from the API: final; a finished job cannot be
            assert api.post(f"/v1/imports/{job.id}/cancel").json()["status"] == "cancelled"
            assert api.post(f"/v1/imports/{job.id}/resume").status_code == 409
        with database.unit_of_work() as uow:
            done = jobs.create_job(
                uow.connection,
                tenant_id=job.tenant_id,
                channel_id=job.channel_id,
                source="waha",
                params={},
                since=None,
                until=None,
            )
            jobs.finish_job(uow.connection, done, "completed")
            uow.commit()
        with pytest.raises(JobEnded):
            cancel_import(services, done.id)
        code, said = cli(capsys, "import", "cancel", str(done.id), "--db", sqlite_url)
        assert code == 2 and "completed: nothing to cancel" in said
    finally:
        services.close()


def _console(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, headers={"Origin": url}, timeout=PATIENCE)
    assert client.post("/login", data={"api_key": key}).status_code == 303
    return client
