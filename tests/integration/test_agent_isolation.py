"""Deliveries are isolated, on both back ends: a channel whose WAHA does not answer and a
channel whose agent hangs hold their own slots only, while another channel's jobs are
delivered at once; closing the deliverer with deliveries stuck takes seconds and gives their
jobs back (pending again, the attempt not counted)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatport.agent.debouncer import Debouncer
from chatport.agent.delivery import AgentDeliverer
from chatport.bootstrap import build
from chatport.domain.model import Channel, Origin
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.channels import remember_waha
from chatport.store.reads import api as reads
from chatport.store.tables import agent_jobs, outbound_messages
from tests.builders import incoming
from tests.integration.test_agent_delivery import ECHO_AGENT
from tests.integration.test_bursts import RULES
from tests.servers import serve_asgi
from tests.waiting import eventually


class HangingAgent:
    """An HTTP agent that holds every request until `release` is set (then answers)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0
        self.app = Starlette(routes=[Route("/agent", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        await request.body()
        self.entered += 1
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return JSONResponse({"reply": "sorry for the wait"})


@contextmanager
def silent_server() -> Iterator[str]:
    """A URL whose server takes connections and never answers (a WAHA gone quiet)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)  # connections wait in the backlog, never accepted
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


def channel_with(services, name: str, *, agent: str | None, waha: str | None) -> Channel:
    database = services.database
    with database.unit_of_work() as uow:
        channel = uow.create_channel(name)
        if agent:
            reads.set_agent(uow.connection, channel.id, agent, None, None)
        if waha:
            remember_waha(
                uow.connection, channel, waha, "default", None, trusted=True,
                secrets=database.secrets,
            )  # fmt: skip
        uow.commit()
    return replace(channel, has_agent=True)


def jobs_in(services, channel: Channel, count: int) -> None:
    """`count` closed bursts in `channel`, one chat each, and their jobs."""
    database = services.database
    start = datetime.now(UTC) - timedelta(seconds=30)
    for n in range(count):
        chat = f"55119{channel.id:03d}{n:05d}@c.us"
        bubble = incoming(f"{channel.name}-{n}", sent_at=start, chat=chat, text=f"hi {n}")
        database.write_batch(channel, [bubble], origin=Origin.LIVE, now=start)
    assert len(Debouncer(database, RULES).run_once(start + timedelta(seconds=10))) == count


def statuses(services, channel: Channel) -> list[tuple]:
    with services.database.engine.connect() as connection:
        query = select(agent_jobs.c.status, agent_jobs.c.attempts, agent_jobs.c.lease_token).where(
            agent_jobs.c.channel_id == channel.id
        )
        return [tuple(row) for row in connection.execute(query)]


def send_states(services, channel: Channel) -> list[tuple]:
    with services.database.engine.connect() as connection:
        query = select(outbound_messages.c.state, outbound_messages.c.error).where(
            outbound_messages.c.channel_id == channel.id
        )
        return [(state, error or "") for state, error in connection.execute(query)]


def test_a_hanging_agent_and_a_silent_waha_delay_only_their_own_channels(database_url) -> None:
    settings = Settings(
        database_url=database_url,
        agent_url=ECHO_AGENT,  # the operator's, for channels without their own
        allow_private_urls=True,
        agent_timeout_seconds=120,  # longer than the test waits: only isolation lets it pass
        waha_send_timeout_seconds=2,
        agent_channel_concurrency=3,
    )
    services = build(settings)
    hanging = HangingAgent()
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1))
    with (
        serve_asgi(hanging.app) as agent_url,
        silent_server() as quiet_waha,
        simulator_in_thread(config) as waha,
    ):
        stuck = channel_with(services, "stuck", agent=f"{agent_url}/agent", waha=None)
        down = channel_with(services, "down", agent=None, waha=quiet_waha)
        fine = channel_with(services, "fine", agent=None, waha=waha)
        jobs_in(services, stuck, 5)  # due first: the old one-at-a-time deliverer began here
        jobs_in(services, down, 5)
        jobs_in(services, fine, 4)
        deliverer = AgentDeliverer(services.database, settings).start()
        try:
            eventually(
                lambda: [s for s, *_ in statuses(services, fine)] == ["replied"] * 4,
                "the healthy channel's jobs were delivered",
            )
            assert not hanging.release.is_set() and hanging.entered <= 3  # its bound
            eventually(lambda: len(config.sent) == 4, "the healthy channel's replies were sent")
            eventually(
                lambda: all(s == "replied" for s, *_ in statuses(services, down)),
                "the replies of the channel whose WAHA is silent are history already",
            )
            eventually(
                lambda: all(
                    state == "pending" and "Timeout" in error
                    for state, error in send_states(services, down)
                ),
                "every send through the silent WAHA failed its attempt",
            )
            eventually(lambda: hanging.entered == 3, "the hanging agent holds three jobs")
            started = time.monotonic()
            deliverer.close()  # three deliveries stuck in the agent
            assert time.monotonic() - started < 10
        finally:
            hanging.release.set()
    stuck_jobs = statuses(services, stuck)
    assert sorted(s for s, *_ in stuck_jobs) == ["pending"] * 5  # released, none lost
    assert all(attempts == 0 and token is None for _, attempts, token in stuck_jobs)
    services.close()


def test_a_reply_whose_send_hangs_frees_its_channel_for_the_next_job(database_url) -> None:
    """A job holds its channel's slot while its agent is asked, not while its reply is sent:
    with one delivery per channel and a WAHA that never answers, the channel's next job is
    delivered while the first reply's send hangs (the send holds a send slot of its own;
    the second reply's send waits, pending, for it)."""
    settings = Settings(
        database_url=database_url,
        agent_url=ECHO_AGENT,
        allow_private_urls=True,
        waha_send_timeout_seconds=120,  # longer than the test waits
        agent_channel_concurrency=1,
    )
    services = build(settings)
    with silent_server() as quiet_waha:
        down = channel_with(services, "down", agent=None, waha=quiet_waha)
        jobs_in(services, down, 2)
        deliverer = AgentDeliverer(services.database, settings).start()
        try:
            eventually(
                lambda: [s for s, *_ in statuses(services, down)] == ["replied"] * 2,
                "both jobs were answered while the first reply's send hangs",
            )
            states = sorted(state for state, _ in send_states(services, down))
            assert states == ["pending", "sending"]
        finally:
            started = time.monotonic()
            deliverer.close()
            assert time.monotonic() - started < 10
    assert sorted(state for state, _ in send_states(services, down)) == ["pending"] * 2
    services.close()
