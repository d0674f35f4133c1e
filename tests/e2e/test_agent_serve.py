"""Agent delivery in real `chatport serve` processes: SIGTERM while a delivery is stuck in the
agent stops the server within 10 s, and the job is delivered after a restart, once; two
servers on one PostgreSQL with a slow agent never answer a burst twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import ME, World
from chatport.store.channels import remember_waha
from chatport.store.tables import agent_jobs, messages
from tests.e2e.test_cli import CHATPORT
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import free_port, serve_asgi
from tests.waiting import eventually


class Agent:
    """Holds each job until `answering` is set, or for `delay` seconds; counts the calls."""

    def __init__(self, delay: float | None = None) -> None:
        self.delay = delay
        self.answering = threading.Event()
        self.calls: Counter[str] = Counter()
        self.app = Starlette(routes=[Route("/agent", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        job = (await request.json())["job_id"]
        self.calls[job] += 1
        if self.delay is not None:
            await asyncio.sleep(self.delay)
        while not self.answering.is_set():
            await asyncio.sleep(0.05)
        return JSONResponse({"reply": f"answer to {job}"})


def serve(database_url: str, port: int, agent_url: str, quiet_ms: int = 300) -> subprocess.Popen:
    env = {
        **os.environ,
        "CHATPORT_WEBHOOK_HMAC_KEY": WEBHOOK_KEY,
        "CHATPORT_AGENT_URL": agent_url,
        "CHATPORT_AGENT_TIMEOUT_SECONDS": "120",  # the agent never times out here
        "CHATPORT_DEBOUNCE_QUIET_MS": str(quiet_ms),
    }
    command = [CHATPORT, "serve", "--db", database_url, "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)

    def healthy() -> bool:
        assert server.poll() is None, "the server ended"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    eventually(healthy, "chatport serve answered", every=0.1)
    return server


def jobs(database) -> list[tuple]:
    with database.engine.connect() as connection:
        query = select(agent_jobs.c.id, agent_jobs.c.status, agent_jobs.c.lease_token)
        return [tuple(row) for row in connection.execute(query)]


def agent_messages(database) -> list[str]:
    with database.engine.connect() as connection:
        query = select(messages.c.text).where(messages.c.origin == "agent")
        return sorted(connection.execute(query).scalars())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_during_a_stuck_delivery_and_the_job_after_a_restart(database_url) -> None:
    services = build(Settings(database_url=database_url))
    agent = Agent()
    chat = "5511999990042@c.us"
    with serve_asgi(agent.app) as url:
        port = free_port()
        server = serve(database_url, port, f"{url}/agent")
        try:
            for n in range(2):
                body = delivery("message", inbound_from(chat, n), f"sig-{n}")
                assert post(f"http://127.0.0.1:{port}", body).status_code == 200
            eventually(lambda: sum(agent.calls.values()) == 1, "the agent holds the job")
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            assert time.monotonic() - started <= 10
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        [(job_id, status, token)] = jobs(services.database)
        assert (status, token) == ("pending", None)  # released, due now
        agent.answering.set()
        server = serve(database_url, port, f"{url}/agent")
        try:
            eventually(lambda: jobs(services.database)[0][1] == "replied", "delivered")
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert agent.calls == {str(job_id): 2}  # asked again after the restart
    assert agent_messages(services.database) == [f"answer to {job_id}"]  # answered once
    services.close()


def test_two_servers_and_a_slow_agent_never_answer_twice(postgresql_url) -> None:
    services = build(Settings(database_url=postgresql_url))
    database = services.database
    agent = Agent(delay=1.0)
    agent.answering.set()
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1))
    chats = [f"5511977770{n:03d}@c.us" for n in range(10)]
    with simulator_in_thread(config) as waha, serve_asgi(agent.app) as url:
        with database.unit_of_work() as uow:
            remember_waha(
                uow.connection, uow.channel(), waha, "default", None, trusted=True,
                secrets=database.secrets,
            )  # fmt: skip
            uow.commit()
        ports = [free_port(), free_port()]
        servers = [serve(postgresql_url, port, f"{url}/agent", 3000) for port in ports]
        try:
            for n in range(2):  # each chat's bubbles reach both servers
                for index, chat in enumerate(chats):
                    body = delivery("message", inbound_from(chat, n), f"{chat}-{n}")
                    # from the simulator's number: the servers' start-up catch-up records it
                    body = body.replace(b"5511888880000@c.us", ME.encode())
                    target = f"http://127.0.0.1:{ports[(index + n) % 2]}"
                    assert post(target, body).status_code == 200
            eventually(
                lambda: [status for _, status, _ in jobs(database)] == ["replied"] * len(chats),
                "every burst was answered",
            )
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
    assert len(agent.calls) == len(chats) and set(agent.calls.values()) == {1}
    assert sorted(sent["to"] for sent in config.sent) == sorted(chats)
    assert len(agent_messages(database)) == len(chats)
    services.close()
