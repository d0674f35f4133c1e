"""Importing from the simulator over loopback: exact, idempotent, resilient (both back ends)."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from chatport.domain.model import Channel
from chatport.domain.progress import ImportProgress, planned
from chatport.engines.inprocess.runner import run_job
from chatport.ingest.waha.import_step import WahaImport
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.circuit import CircuitSettings
from chatport.sources.waha.client import WahaSettings
from chatport.store.database import Database
from chatport.store.jobs import import_jobs as jobs
from chatport.store.tables import messages
from tests import import_faults
from tests.import_faults import plant

WORLD = World(chats=60, messages=4_000, seed=9)
DISPLAYABLE = sum(1 for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)


def new_job(database: Database, channel: Channel | None = None) -> jobs.ImportJob:
    """A new import job of `channel` (default: the default channel)."""
    channel = channel or database.channel()
    with database.unit_of_work() as uow:
        job = jobs.create_job(
            uow.connection,
            tenant_id=channel.tenant_id,
            channel_id=channel.id,
            source="waha",
            params={},
            since=None,
            until=datetime.now(UTC),
        )
        uow.commit()
    return job


def run(database: Database, url: str, job: jobs.ImportJob, circuit=None, **options) -> str:
    waha = WahaSettings(url=url, page_size=64, attempts=3, max_backoff_seconds=0.05)
    waha = replace(waha, circuit=circuit) if circuit else waha
    importer = WahaImport(database, database.channel(), job, waha, chunk_size=700, **options)
    return run_job(importer)


def plans(seen: list[tuple[int, int, bool]]) -> Callable[[ImportProgress], None]:
    """An `on_progress` that keeps (chats finished, chats planned, estimated) of each report."""

    def record(progress: ImportProgress) -> None:
        seen.append((progress.chats_done + progress.chats_failed, *planned(progress)))

    return record


def stored(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()


def test_a_full_import_is_exact_and_a_reimport_adds_nothing(database: Database) -> None:
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        first = new_job(database)
        assert run(database, url, first, concurrency=3) == "completed"
        second = new_job(database)
        assert run(database, url, second) == "completed"
    assert first.counters["created"] == DISPLAYABLE == stored(database)
    assert len(first.chats_done) == len(WORLD.chats)
    assert (second.counters["created"], second.counters["duplicates"]) == (0, DISPLAYABLE)
    with database.engine.connect() as connection:
        reloaded = jobs.load_job(connection, first.id)
    assert reloaded.status == "completed" and reloaded.counters == first.counters
    with database.engine.connect() as connection:
        media = connection.execute(
            select(messages.c.media_mime, messages.c.media_size, messages.c.media_url).where(
                messages.c.content_type.in_(["image", "video", "audio", "voice", "document"])
            )
        ).all()
    assert media and all(row.media_mime and row.media_size > 0 for row in media)
    assert {row.media_url for row in media} == {None}  # metadata only: nothing downloaded


def test_a_failing_chat_is_recorded_and_retry_recovers_it(database: Database) -> None:
    broken = WORLD.chats[4].id
    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=Faults(failing_chats={broken}))) as url:
        assert run(database, url, job) == "failed_chats"
    assert set(job.failed_chats) == {broken} and "keeps failing" in job.failed_chats[broken]
    missing = sum(1 for r in WORLD.messages(WORLD.chats[4]) if not r.hidden)
    assert stored(database) == DISPLAYABLE - missing
    reports: list[tuple[int, int, bool]] = []
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        only = set(job.failed_chats)
        assert run(database, url, job, only_chats=only, on_progress=plans(reports)) == "completed"
    assert job.failed_chats == {} and stored(database) == DISPLAYABLE
    assert job.counters["created"] == DISPLAYABLE
    chats = len(WORLD.chats)  # the retry's figures are the job's: 59 done + 1 retried of 60
    assert {total for _, total, _ in reports} == {chats} and reports[-1] == (chats, chats, False)


def test_waha_going_down_stops_the_job_resumably_and_resume_finishes_it(
    database: Database,
) -> None:
    faults = Faults(down_after=40)
    circuit = CircuitSettings(threshold=3, open_seconds=0.2, give_up_seconds=1.0)
    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=faults)) as url:
        assert run(database, url, job, circuit) == "interrupted"
        assert "is down" in job.error and job.failed_chats == {}
        assert len(job.chats_done) < len(WORLD.chats) and stored(database) < DISPLAYABLE
        faults.down_after = None
        reports: list[tuple[int, int, bool]] = []
        assert run(database, url, job, circuit, on_progress=plans(reports)) == "completed"
    assert stored(database) == DISPLAYABLE == job.counters["created"]
    chats = len(WORLD.chats)  # the resumed run's figures are the job's, never past the plan
    assert all(finished <= total <= chats for finished, total, _ in reports)
    assert reports[-1] == (chats, chats, False)


def test_a_chunk_retried_after_a_deadlock_is_counted_once(
    database: Database, monkeypatch, tmp_path: Path
) -> None:
    plant(monkeypatch, "deadlock_after_second_checkpoint", str(tmp_path / "deadlocked"))
    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        assert run(database, url, job) == "completed"
    with database.engine.connect() as connection:
        reloaded = jobs.load_job(connection, job.id)
    assert job.counters["created"] == DISPLAYABLE == stored(database)
    assert reloaded.counters == job.counters and reloaded.chats_done == job.chats_done
    assert (tmp_path / "deadlocked").exists()


class StopOnceBegun:
    """The import engine's `time`: the real clock until the file `begun` exists, then past any
    deadline (calling `then()` once): a timeout that comes at an event, not at an hour."""

    def __init__(self, begun: Path, then: Callable[[], None]) -> None:
        self.begun, self.then, self.fired = begun, then, False

    def monotonic(self) -> float:
        if not self.fired and self.begun.exists():
            self.fired = True
            self.then()
        return math.inf if self.fired else time.monotonic()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_a_stop_during_a_write_keeps_the_job_in_memory_true_to_the_database(
    database: Database, monkeypatch, tmp_path: Path
) -> None:
    # The import's time is up once a chunk has committed and the next one's transaction is
    # under way (held open in its checkpoint): SQLite's writer thread finishes it (released
    # as the stop comes); PostgreSQL's fetch processes are killed and the server rolls it back.
    begun = tmp_path / "a chunk is being written"
    plant(monkeypatch, "slow_checkpoints_after_first", str(begun))
    clock = StopOnceBegun(begun, then=import_faults.released.set)
    monkeypatch.setattr("chatport.engines.inprocess.runner.time", clock)
    monkeypatch.setattr("chatport.ingest.waha.import_step.time", clock)
    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        waha = WahaSettings(url=url, page_size=64)
        importer = WahaImport(database, database.channel(), job, waha, chunk_size=700)
        assert run_job(importer, timeout_minutes=30) == "interrupted"
    assert clock.fired
    with database.engine.connect() as connection:
        reloaded = jobs.load_job(connection, job.id)
    assert 0 < stored(database) == job.counters["created"] == reloaded.counters["created"]
    assert job.chats_done == reloaded.chats_done
    assert stored(database) < DISPLAYABLE


def test_a_fetch_process_that_dies_stops_the_job_with_the_reason(database: Database) -> None:
    killed: list[int] = []

    def kill_a_fetcher(progress: ImportProgress) -> None:
        """On the first page read: a fetch process is at work; kill one."""
        if killed:
            return
        me = os.getpid()
        for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"fetch_process" in command:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return

    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=Faults(latency_ms=20))) as url:
        waha = WahaSettings(url=url, page_size=16)
        importer = WahaImport(
            database, database.channel(), job, waha, chunk_size=50, on_fetched=kill_a_fetcher
        )
        with pytest.raises(RuntimeError, match="fetch process stopped without a word"):
            run_job(importer, timeout_minutes=10)
    assert killed
    with database.engine.connect() as connection:
        assert jobs.load_job(connection, job.id).status == "failed"


def test_flaky_waha_still_gives_every_message_once(database: Database) -> None:
    faults = Faults(error_rate=0.1, malformed_rate=0.05, seed=4)
    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD, faults=faults)) as url:
        waha = WahaSettings(url=url, page_size=64, attempts=10, max_backoff_seconds=0.02)
        assert run_job(WahaImport(database, database.channel(), job, waha)) == "completed"
    assert stored(database) == DISPLAYABLE


def test_a_failing_write_stops_the_import_and_marks_the_job(
    database: Database, monkeypatch
) -> None:
    plant(monkeypatch, "failing_writes")
    job = new_job(database)
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        waha = WahaSettings(url=url, page_size=16)
        importer = WahaImport(database, database.channel(), job, waha, chunk_size=50)
        with pytest.raises(RuntimeError, match="disk full"):
            run_job(importer, timeout_minutes=1)
    with database.engine.connect() as connection:
        stored_job = jobs.load_job(connection, job.id)
    assert stored_job.status == "failed" and "disk full" in stored_job.error


def test_chats_with_nothing_displayable_are_listed_and_the_import_stays_exact(
    database: Database,
) -> None:
    world = World(chats=300, messages=600, seed=3)  # many chats of one or two records
    empty = [chat for chat in world.chats if world.last_message(chat) is None]
    assert empty  # some hold only reactions or protocol messages
    displayable = sum(1 for c in world.chats for r in world.messages(c) if not r.hidden)
    with simulator_in_thread(SimulatorConfig(world)) as url:
        job = new_job(database)
        assert run(database, url, job) == "completed"
    assert stored(database) == displayable == job.counters["created"]
    assert len(job.chats_done) == len(world.chats)
