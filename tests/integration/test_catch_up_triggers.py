"""What starts a catch-up in `chatport serve` (in-process engine, both back ends): the server's
start, a session WORKING after another state, the periodic round, and a trigger while one runs
(it runs once more)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from sqlalchemy import select

from chatport.api.app import create_app
from chatport.bootstrap import ServerServices, build
from chatport.engines.inprocess.runner import run_job
from chatport.ingest import import_jobs
from chatport.live.writer import LiveWriter
from chatport.services import Services
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.webhooks import parse_envelope, sign
from chatport.store import channels
from chatport.store.tables import import_jobs as import_jobs_table
from tests.servers import serve_asgi
from tests.waiting import eventually

KEY = "my-secret-key"
WORLD = World(chats=20, messages=600, seed=3)


def status_delivery(status: str, number: int, *latest: str) -> bytes:
    payload: dict = {"name": "default", "status": status}
    if latest:
        payload["statuses"] = [{"status": s, "timestamp": 1} for s in latest]
    return orjson.dumps(
        {
            "id": f"evt_status_{number}",
            "event": "session.status",
            "session": "default",
            "payload": payload,
        }
    )


def test_the_writer_tells_of_a_session_working_after_another_state(database_url: str) -> None:
    services = build(Settings(database_url=database_url))
    told: list[int] = []
    writer = LiveWriter(
        services.database, look_up_lids=False, on_reconnected=lambda c: told.append(c.id)
    )
    channel = services.database.channel()
    numbers = itertools.count()
    try:

        def deliver(*statuses: str, latest: tuple[str, ...] = ()) -> None:
            futures = [
                writer.submit(channel, parse_envelope(status_delivery(s, next(numbers), *latest)))
                for s in statuses
            ]
            for future in futures:
                future.result(timeout=60)

        deliver("WORKING")  # unknown before: a first WORKING catches up too
        deliver("WORKING")  # WAHA said nothing in between: nothing to catch up
        deliver("STARTING")
        deliver("SCAN_QR_CODE", "WORKING")  # one group, as under load
        deliver("STARTING", "WORKING", "WORKING")
        deliver("WORKING", latest=("WORKING", "WORKING"))
        deliver("WORKING", latest=("STARTING", "WORKING"))  # its STARTING was lost
    finally:
        writer.close()
        services.close()
    assert told == [channel.id] * 4


def point_at(services: Services, url: str) -> None:
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:
        channels.remember_waha(
            uow.connection, channel, url, "default", None, trusted=True, secrets=database.secrets
        )
        uow.commit()


def catch_up_jobs(services: Services) -> list:
    with services.database.engine.connect() as connection:
        query = select(import_jobs_table).where(import_jobs_table.c.kind == "catch-up")
        return connection.execute(query.order_by(import_jobs_table.c.created_at)).all()


@contextmanager
def server(services: Services) -> Iterator[tuple[str, ServerServices]]:
    app = create_app(services)
    with serve_asgi(app) as url:
        yield url, app.state.server


def import_everything(services: Services) -> None:
    """A full import of the channel's WAHA, in this process."""
    channel = services.database.channel()
    job = import_jobs.create_job(services.database, channel, None, datetime.now(UTC), {})
    assert run_job(import_jobs.importer_for(services, job)) == "completed"


@pytest.fixture
def imported(database_url: str) -> Iterator[tuple[Services, SimulatorConfig]]:
    """The whole simulated history imported, the channel pointed at its WAHA."""
    config = SimulatorConfig(WORLD, faults=Faults())
    settings = Settings(database_url=database_url, webhook_hmac_key=KEY, catchup_every_minutes=0)
    services = build(settings)
    with simulator_in_thread(config) as url:
        point_at(services, url)
        import_everything(services)
        yield services, config
    services.close()


def test_serve_catches_up_at_start_and_when_the_session_works_again(imported) -> None:
    services, _ = imported
    with server(services) as (url, _):
        first = eventually(lambda: catch_up_jobs(services), "a catch-up at the server's start")
        assert len(first) == 1

        def post(body: bytes) -> None:
            headers = sign(body, KEY) | {"content-type": "application/json"}
            assert httpx.post(f"{url}/webhooks/waha", content=body, headers=headers).is_success

        eventually(lambda: catch_up_jobs(services)[0].status != "running", "it ends")
        post(status_delivery("WORKING", 1))  # WORKING all along (the import saw it)
        post(status_delivery("STARTING", 2))
        post(status_delivery("WORKING", 3))
        eventually(lambda: len(catch_up_jobs(services)) == 2, "a catch-up after the reconnect")
        eventually(
            lambda: all(job.status != "running" for job in catch_up_jobs(services)), "they end"
        )
    jobs = catch_up_jobs(services)
    assert [job.status for job in jobs] == ["completed", "completed"]
    assert all(job.counters["created"] == 0 for job in jobs)


def test_serve_catches_up_periodically(database_url: str, imported) -> None:
    services, _ = imported
    periodic = services.settings.model_copy(update={"catchup_every_minutes": 0.002})
    with server(Services(periodic, services.database)):
        eventually(lambda: len(catch_up_jobs(services)) >= 3, "three periodic catch-ups")


def test_a_trigger_while_a_catch_up_runs_runs_it_once_more(imported) -> None:
    services, config = imported
    with server(services) as (_, serving):
        eventually(
            lambda: [j.status for j in catch_up_jobs(services)] == ["completed"], "the first"
        )
        config.faults.held = threading.Event()  # WAHA holds the next catch-up's requests
        first = serving.catch_ups.trigger(services.database.channel().id)
        second = serving.catch_ups.trigger(services.database.channel().id)
        assert not first.coalesced and second.coalesced and second.job.id == first.job.id
        config.faults.held.set()
        eventually(lambda: len(catch_up_jobs(services)) == 3, "it runs once more")
        eventually(
            lambda: all(job.status == "completed" for job in catch_up_jobs(services)), "all end"
        )
