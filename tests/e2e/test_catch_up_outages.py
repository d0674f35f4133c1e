"""No message lost across outages (both back ends, both engines), with the simulator in live
mode posting signed webhooks to a real `chatport serve` app: chatport stopped while messages
happen, then started again; WAHA dropping its webhooks, then its session dropping and coming
back; webhooks lost without any status change, repaired by the periodic round. Afterwards
every message the simulator created is stored exactly once, the sessions follow the rule, and
nothing caught up is in a burst or an agent job (history is quiet), though the channel has an
agent and live messages reach it. Catch-ups race live webhooks of the same chats."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from chatport.api.app import create_app
from chatport.bootstrap import ServerServices, build
from chatport.services import Services
from chatport.settings import Settings
from chatport.simulator.live import LiveSettings, LiveTraffic
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.store.channels import sessions_follow_the_rule
from chatport.store.tables import agent_jobs, bursts, messages
from tests.e2e.temporal_helpers import temporal_dev_server, temporal_env, worker
from tests.integration.test_agent_delivery import ECHO_AGENT
from tests.integration.test_catch_up_triggers import catch_up_jobs, import_everything, point_at
from tests.servers import free_port, serve_asgi
from tests.waiting import eventually

KEY = "my-secret-key"
WORLD = World(chats=40, messages=2_500, seed=21)
HISTORY = {r.message["id"] for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden}


@pytest.fixture(scope="module")
def temporal() -> Iterator[str]:
    with temporal_dev_server() as address:
        yield address


@dataclass
class Outage:
    """A channel with its history imported, its WAHA in live mode, and how to run chatport."""

    services: Services
    traffic: LiveTraffic
    faults: Faults
    waha: httpx.Client
    port: int

    @contextmanager
    def chatport(self) -> Iterator[ServerServices]:
        """`chatport serve` (the app, under uvicorn) on the port the webhooks go to."""
        app = create_app(self.services)
        with serve_asgi(app, self.port):
            yield app.state.server

    def create(self, count: int, chats: list[str] | None = None) -> list[str]:
        """Messages happening now in WhatsApp (their webhooks are on their way)."""
        query = {"count": count, "chat": [chat_of(m) for m in chats or []]}
        return self.waha.post("/simulator/live/messages", params=query).json()["created"]

    def settled(self) -> None:
        """Wait until every webhook sent was delivered or given up."""
        eventually(lambda: self.waha.get("/simulator/live").json()["pending"] == 0, "delivered")

    def caught_up(self, count: int) -> None:
        """Wait until `count` catch-ups have run, all to their end."""
        eventually(lambda: len(catch_up_jobs(self.services)) >= count, f"{count} catch-ups")
        eventually(
            lambda: all(job.status != "running" for job in catch_up_jobs(self.services)),
            "the catch-ups end",
        )
        assert {job.status for job in catch_up_jobs(self.services)} == {"completed"}

    def assert_exact(self) -> None:
        """Every message the simulator created stored once; the session rule; quiet history."""
        database = self.services.database
        with database.engine.connect() as connection:
            rows = connection.execute(
                select(messages.c.external_id, messages.c.origin).where(
                    messages.c.origin != "agent"
                )
            ).all()
            in_bursts = {
                m for row in connection.execute(select(bursts.c.message_ids)) for m in row[0]
            }
            in_jobs = {
                m for row in connection.execute(select(agent_jobs.c.message_ids)) for m in row[0]
            }
        stored = sorted(external_id for external_id, _ in rows)
        assert stored == sorted(HISTORY | set(self.traffic.created))
        origins = dict(rows)
        lost = set(self.traffic.lost)
        assert lost and {origins[m] for m in lost} == {"import"}  # caught up, never live
        assert not lost & (in_bursts | in_jobs)
        live = {
            m for m in self.traffic.created if origins[m] == "live" and m.split("_")[0] == "false"
        }
        assert live & in_bursts, "live inbound messages reach the agent"
        channel = database.channel()
        assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)


def chat_of(message_id: str) -> str:
    return message_id.split("_")[1]


@pytest.fixture(params=["inprocess", "temporal"])
def outage(request: pytest.FixtureRequest, database_url: str) -> Iterator[Outage]:
    port = free_port()
    settings = Settings(
        database_url=database_url,
        webhook_hmac_key=KEY,
        catchup_every_minutes=0,  # the periodic round is triggered by hand here
        agent_url=ECHO_AGENT,
        agent_send_via_waha=False,
        debounce_quiet_ms=100,
        debounce_max_wait_ms=500,
    )
    running = contextmanager(lambda: iter([None]))()
    if request.param == "temporal":
        env = temporal_env(request.getfixturevalue("temporal"))
        settings = settings.model_copy(
            update={
                "catchup_engine": "temporal",
                "temporal_address": env["CHATPORT_TEMPORAL_ADDRESS"],
                "temporal_task_queue": env["CHATPORT_TEMPORAL_TASK_QUEUE"],
            }
        )
        running = worker(database_url, env)
    services = build(settings)
    hook = f"http://127.0.0.1:{port}/webhooks/waha"
    traffic = LiveTraffic(
        WORLD, LiveSettings(webhook_url=hook, hmac_key=KEY, attempts=2, retry_seconds=0.05)
    )
    faults = Faults()
    try:
        with simulator_in_thread(SimulatorConfig(WORLD, faults=faults, live=traffic)) as url:
            point_at(services, url)
            import_everything(services)
            with running, httpx.Client(base_url=url, timeout=60) as waha:
                yield Outage(services, traffic, faults, waha, port)
    finally:
        services.close()


@pytest.mark.parametrize("outage", ["inprocess"], indirect=True)  # Temporal: the next test
def test_chatport_stopped_then_started_again_misses_nothing(outage: Outage) -> None:
    with outage.chatport():
        outage.caught_up(1)  # at the start: nothing new
        outage.create(30)
        outage.settled()
    # chatport is down: WAHA gives the webhooks up
    missed = outage.create(40)
    outage.settled()
    assert outage.traffic.lost == missed
    outage.faults.held = threading.Event()  # the start's catch-up waits on WAHA while…
    with outage.chatport():
        outage.create(40, chats=missed)  # …webhooks of the same chats arrive
        outage.settled()
        outage.waha.patch("/simulator/live", json={"rate": 40})  # and go on arriving
        outage.faults.held.set()
        outage.caught_up(2)
        outage.waha.patch("/simulator/live", json={"rate": 0})
        outage.settled()
    outage.assert_exact()


def test_dropped_webhooks_and_a_reconnected_session_miss_nothing(outage: Outage) -> None:
    with outage.chatport():
        outage.caught_up(1)
        outage.create(20)
        outage.settled()
        outage.waha.post("/simulator/live/webhooks/drop")
        outage.create(30)
        outage.waha.post("/simulator/live/session/drop")  # its STARTING webhook is dropped too
        outage.create(20)
        outage.waha.post("/simulator/live/webhooks/restore")
        outage.waha.post("/simulator/live/session/restore")  # WORKING: a catch-up
        outage.caught_up(2)
        outage.create(20)
        outage.settled()
    outage.assert_exact()


@pytest.mark.parametrize("outage", ["inprocess"], indirect=True)  # Temporal: the test above
def test_webhooks_lost_without_a_status_change_are_repaired_by_the_periodic_round(
    outage: Outage,
) -> None:
    with outage.chatport() as server:
        outage.caught_up(1)
        outage.waha.post("/simulator/live/webhooks/drop")
        outage.create(30)
        outage.waha.post("/simulator/live/webhooks/restore")
        outage.create(20)
        outage.settled()
        server.catch_ups.reconcile()
        outage.caught_up(2)
    outage.assert_exact()
