"""Import job leases: one run per job at a time; a dead run is taken over, a live one is not
(both back ends)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from chatport.bootstrap import build
from chatport.domain.model import BatchResult
from chatport.errors import JobBusy, JobTakenOver
from chatport.settings import Settings
from chatport.store import tenants
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs import leases
from chatport.store.tables import import_jobs
from tests.integration.test_waha_import import new_job
from tests.servers import serve_app
from tests.waiting import PATIENCE


def load(database, job_id) -> jobs.ImportJob:
    with database.engine.connect() as connection:
        return jobs.load_job(connection, job_id)


def claim(database, job_id) -> jobs.ImportJob:
    with database.unit_of_work() as uow:
        job = jobs.load_job(uow.connection, job_id)
        leases.claim_job(uow.connection, job)
        uow.commit()
    return job


def age_heartbeat(database, job_id, seconds: float) -> None:
    with database.unit_of_work() as uow:
        uow.connection.execute(
            update(import_jobs)
            .where(import_jobs.c.id == job_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
        uow.commit()


def test_a_running_job_is_not_claimed_twice_until_its_heartbeat_is_stale(database) -> None:
    first = new_job(database)
    with pytest.raises(JobBusy, match="running in another process"):
        claim(database, first.id)
    age_heartbeat(database, first.id, 30)  # younger than STALE_AFTER: still its run's
    with pytest.raises(JobBusy):
        claim(database, first.id)
    age_heartbeat(database, first.id, 61)
    second = claim(database, first.id)
    assert load(database, first.id).owner == second.owner != first.owner
    # the first run learns it at its next write, and writes nothing more
    with database.unit_of_work() as uow, pytest.raises(JobTakenOver):
        jobs.checkpoint(uow.connection, uow.ops, first, BatchResult(created=5), ["a@c.us"], {})
    with database.unit_of_work() as uow, pytest.raises(JobTakenOver):
        leases.heartbeat(uow.connection, first)
    with database.unit_of_work() as uow:
        jobs.finish_job(uow.connection, first, "completed")
        uow.commit()
    stored = load(database, first.id)
    assert (stored.status, stored.counters, stored.chats_done) == ("running", {}, set())
    with database.unit_of_work() as uow:  # the second run's writes go through
        state = jobs.checkpoint(
            uow.connection, uow.ops, second, BatchResult(created=5), ["a@c.us"], {}
        )
        jobs.finish_job(uow.connection, second, "completed")
        uow.commit()
    assert state.counters["created"] == 5 and load(database, first.id).status == "completed"


def test_a_run_that_died_on_this_host_is_taken_over_at_once(database) -> None:
    job = new_job(database)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = job.owner.split("/")[0]
    with database.unit_of_work() as uow:
        uow.connection.execute(
            update(import_jobs)
            .where(import_jobs.c.id == job.id)
            .values(owner=f"{host}/{gone.pid}/deadbeef0000")
        )
        uow.commit()
    assert claim(database, job.id).owner.startswith(f"{host}/")
    # a run of another host is not judged by this host's processes
    with database.unit_of_work() as uow:
        uow.connection.execute(
            update(import_jobs)
            .where(import_jobs.c.id == job.id)
            .values(owner=f"elsewhere/{gone.pid}/deadbeef0000")
        )
        uow.commit()
    with pytest.raises(JobBusy):
        claim(database, job.id)


def test_concurrent_claims_of_a_stale_job_have_one_winner(database) -> None:
    job = new_job(database)
    age_heartbeat(database, job.id, 120)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def try_claim() -> None:
        start.wait()
        try:
            outcomes.append(claim(database, job.id).owner)
        except JobBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=try_claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [owner for owner in outcomes if owner != "busy"]
    assert len(winners) == 1 and outcomes.count("busy") == 3
    with database.engine.connect() as connection:
        owner = connection.execute(
            select(import_jobs.c.owner).where(import_jobs.c.id == job.id)
        ).scalar()
    assert owner == winners[0]


def test_the_api_refuses_to_resume_a_job_another_process_runs(database_url) -> None:
    services = build(Settings(database_url=database_url))
    database = services.database
    job = new_job(database)
    with database.unit_of_work() as uow:
        key = tenants.create_key(
            uow.connection, tenants.ensure_tenant(uow.connection, "default")[0]
        )
        uow.commit()
    with serve_app(services) as url:
        answer = httpx.post(
            f"{url}/v1/imports/{job.id}/resume", headers={"X-Api-Key": key}, timeout=PATIENCE
        )
    services.close()
    assert answer.status_code == 409 and "running in another process" in answer.text


def test_runs_of_one_job_checkpointing_at_once_add_up(database) -> None:
    """Temporal's chunk activities checkpoint one job from several threads and processes:
    every chunk's counters and chats count once, whatever the interleaving."""
    job_id = new_job(database).id
    runs = [load(database, job_id) for _ in range(4)]  # same lease, each its own copy
    start = threading.Barrier(len(runs))

    def checkpoint_many(run: jobs.ImportJob, index: int) -> None:
        start.wait()
        for n in range(15):
            with database.unit_of_work() as uow:
                done = [f"{index}-{n}@c.us"]
                failed = {f"{index}-{n}-f@c.us": "boom"} if n % 5 == 0 else {}
                jobs.checkpoint(uow.connection, uow.ops, run, BatchResult(created=3), done, failed)
                uow.commit()

    threads = [threading.Thread(target=checkpoint_many, args=(r, i)) for i, r in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = load(database, job_id)
    assert stored.counters["created"] == 4 * 15 * 3
    assert stored.counters["chats_done"] == len(stored.chats_done) == 60
    assert stored.counters["chats_failed"] == len(stored.failed_chats) == 12
