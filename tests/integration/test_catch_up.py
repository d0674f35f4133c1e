"""Catch-up jobs against the simulator (both back ends): the chats active in the window only,
from the window's start, exact; cheap and write-free when nothing was missed; one per channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from chatport.bootstrap import build
from chatport.engines.inprocess.runner import run_job
from chatport.ingest import import_jobs
from chatport.ingest.catch_up import TAKEN_OVER, begin_catch_up, run_again
from chatport.services import Services
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store import channels
from chatport.store.channels import sessions_follow_the_rule
from chatport.store.jobs import import_jobs as jobs
from chatport.store.tables import channels as channels_table
from chatport.store.tables import import_jobs as import_jobs_table
from chatport.store.tables import metadata

WORLD = World(chats=60, messages=4_000, seed=9)
OVERLAP = timedelta(minutes=10)
PAGE = 500


def activity(chat) -> int:
    return WORLD.last_activity(chat)


def displayable(since: int = 0, until: int | None = None) -> set[str]:
    return {
        r.message["id"]
        for c in WORLD.chats
        for r in WORLD.messages(c)
        if not r.hidden and r.timestamp >= since and (until is None or r.timestamp <= until)
    }


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build(Settings(database_url=database_url))
    yield built
    built.close()


def point_at(services: Services, url: str) -> None:
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:
        channels.remember_waha(
            uow.connection, channel, url, "default", None, trusted=True, secrets=database.secrets
        )
        uow.commit()


def import_until(services: Services, until: datetime) -> jobs.ImportJob:
    """A full import of the history up to `until` (what chatport had before the outage)."""
    job = import_jobs.create_job(services.database, services.database.channel(), None, until, {})
    assert run_job(import_jobs.importer_for(services, job)) == "completed"
    return job


def catch_up(services: Services) -> jobs.ImportJob:
    begun = begin_catch_up(services.database, services.database.channel().id, overlap=OVERLAP)
    assert not begun.coalesced
    assert run_job(import_jobs.importer_for(services, begun.job)) == "completed"
    return begun.job


def stored_ids(services: Services) -> set[str]:
    from chatport.store.tables import messages

    with services.database.engine.connect() as connection:
        return set(connection.execute(select(messages.c.external_id)).scalars())


def row_counts(services: Services) -> dict[str, object]:
    """Every table's row count, and the channels' rows as they are."""
    with services.database.engine.connect() as connection:
        counts: dict[str, object] = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }
        counts["channel rows"] = connection.execute(select(channels_table)).all()
        return counts


def requests_for(chats: list, since: int) -> int:
    """Message requests of a catch-up over `chats` from `since`: the pages of each chat's
    records in the window, and the empty page that ends it."""
    total = 0
    for chat in chats:
        records = sum(1 for r in WORLD.messages(chat) if r.timestamp >= since)
        total += -(-records // PAGE) + 1
    return total


def test_a_catch_up_reads_the_active_chats_from_the_window_start(services: Services) -> None:
    newest_first = sorted(WORLD.chats, key=activity, reverse=True)
    cut = activity(newest_first[8]) - 3_600  # eight chats were active after the outage began
    with simulator_in_thread(config := SimulatorConfig(WORLD)) as url:
        point_at(services, url)
        import_until(services, datetime.fromtimestamp(cut, UTC))
        before = stored_ids(services)
        assert before == displayable(until=cut)
        requests = config.faults.requests
        job = catch_up(services)
        spent = config.faults.requests - requests
    since = int(job.since.timestamp())
    assert since == max(r.timestamp for r in _records_until(cut)) - 600
    active = [chat for chat in newest_first if activity(chat) >= since]
    assert 8 <= len(active) < len(WORLD.chats) // 2
    # the session, the LID count (no new pair: the map is not read), one overview page
    assert spent == 3 + requests_for(active, since)
    assert stored_ids(services) == displayable()
    assert job.counters["created"] == len(displayable()) - len(before)
    assert job.kind == jobs.CATCH_UP and job.until is not None
    channel = services.database.channel()
    assert sessions_follow_the_rule(services.database.engine, channel.id, channel.session_timeout)


def _records_until(cut: int) -> list:
    return [
        r for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden and r.timestamp <= cut
    ]


def test_a_catch_up_that_finds_nothing_new_writes_only_its_job(services: Services) -> None:
    with simulator_in_thread(config := SimulatorConfig(WORLD)) as url:
        point_at(services, url)
        import_until(services, datetime.now(UTC))
        catch_up(services)  # the first catch-up records the session's status and number
        counts = row_counts(services)
        requests = config.faults.requests
        job = catch_up(services)
        spent = config.faults.requests - requests
    since = int(job.since.timestamp())
    active = [chat for chat in WORLD.chats if activity(chat) >= since]
    assert spent == 3 + requests_for(active, since) <= 3 + 2 * len(active) + 2
    assert job.counters["created"] == 0
    assert job.counters["duplicates"] == len(displayable(since))
    after = row_counts(services)
    assert after.pop("import_jobs") == counts.pop("import_jobs") + 1
    assert after == counts


def test_one_catch_up_runs_per_channel_and_a_second_trigger_asks_for_another(
    services: Services,
) -> None:
    database = services.database
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        point_at(services, url)
        channel_id = database.channel().id
        first = begin_catch_up(database, channel_id, overlap=OVERLAP)
        second = begin_catch_up(database, channel_id, overlap=OVERLAP)
        periodic = begin_catch_up(database, channel_id, overlap=OVERLAP, again=False)
        assert not first.coalesced and second.coalesced and periodic.coalesced
        assert second.job.id == periodic.job.id == first.job.id
        assert run_job(import_jobs.importer_for(services, first.job)) == "completed"
        assert run_again(database, first.job) and not run_again(database, first.job)
        third = begin_catch_up(database, channel_id, overlap=OVERLAP)
        assert not third.coalesced and third.job.id != first.job.id
        with database.unit_of_work() as uow:  # its process died an hour ago
            uow.connection.execute(
                update(import_jobs_table)
                .where(import_jobs_table.c.id == third.job.id)
                .values(owner="elsewhere/1/x", heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
            )
            uow.commit()
        fourth = begin_catch_up(database, channel_id, overlap=OVERLAP)
        assert not fourth.coalesced
    with database.engine.connect() as connection:
        replaced = jobs.load_job(connection, third.job.id)
    assert (replaced.status, replaced.error) == ("interrupted", TAKEN_OVER)


def test_two_running_catch_ups_of_a_channel_are_refused_by_the_store(services: Services) -> None:
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:
        for _ in range(2):
            try:
                jobs.create_job(
                    uow.connection,
                    tenant_id=channel.tenant_id,
                    channel_id=channel.id,
                    source="waha",
                    params={},
                    since=None,
                    until=None,
                    kind=jobs.CATCH_UP,
                )
            except Exception as error:
                assert database.ops.is_unique_violation(error)
                break
        else:
            pytest.fail("a second running catch-up was stored")


def test_a_waha_without_the_overview_is_read_newest_first_from_chats(services: Services) -> None:
    newest_first = sorted(WORLD.chats, key=activity, reverse=True)
    cut = activity(newest_first[5]) - 3_600
    with simulator_in_thread(config := SimulatorConfig(WORLD, overview=False)) as url:
        point_at(services, url)
        import_until(services, datetime.fromtimestamp(cut, UTC))
        requests = config.faults.requests
        job = catch_up(services)
        spent = config.faults.requests - requests
    since = int(job.since.timestamp())
    active = [chat for chat in newest_first if activity(chat) >= since]
    # the overview's 404, then one page of /chats sorted by activity
    assert spent == 4 + requests_for(active, since)
    assert stored_ids(services) == displayable()
