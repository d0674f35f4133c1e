"""The debouncer with real servers: `chatport serve` killed in the middle of a quiet window
and started again makes the job once; three `chatport serve` processes on one database make
one job per burst."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest
from sqlalchemy import create_engine, select

from chatport.store.tables import agent_jobs
from tests.e2e.test_cli import CHATPORT
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import free_port
from tests.waiting import PATIENCE, eventually

AGENT = {"agent_url": "http://127.0.0.1:9/agent"}  # nobody answers: jobs stay to be seen


def job_messages(database_url: str, expected: int, seconds: float = PATIENCE) -> list[list[str]]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    deadline = time.monotonic() + seconds
    while True:
        with engine.connect() as connection:
            found = connection.execute(
                select(agent_jobs.c.chat_id, agent_jobs.c.message_ids).order_by(
                    agent_jobs.c.chat_id
                )
            ).all()
        if len(found) >= expected or time.monotonic() > deadline:
            engine.dispose()
            return [list(ids) for _, ids in found]
        time.sleep(0.1)


def start_server(database_url: str, port: int, quiet_ms: int = 2000) -> subprocess.Popen:
    env = {
        **os.environ,
        "CHATPORT_WEBHOOK_HMAC_KEY": WEBHOOK_KEY,
        "CHATPORT_AGENT_URL": AGENT["agent_url"],
        "CHATPORT_DEBOUNCE_QUIET_MS": str(quiet_ms),
    }
    command = [CHATPORT, "serve", "--db", database_url, "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)

    def healthy() -> bool:
        assert server.poll() is None, "the server ended"
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return True
        except httpx.TransportError:
            return False

    eventually(healthy, "chatport serve answered", every=0.1)
    return server


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_server_killed_mid_window_makes_the_job_once_after_a_restart(database_url) -> None:
    chat = "5511999990001@c.us"
    port = free_port()
    server = start_server(database_url, port)
    for n in range(2):
        reply = post(
            f"http://127.0.0.1:{port}", delivery("message", inbound_from(chat, n), f"k{n}")
        )
        assert reply.status_code == 200
    os.killpg(server.pid, signal.SIGKILL)  # the burst is open, its window not over
    server.wait()
    assert job_messages(database_url, 1, seconds=2.5) == []
    server = start_server(database_url, port)
    try:
        found = job_messages(database_url, 1)
        time.sleep(1)  # nothing more comes
        assert (
            job_messages(database_url, 1)
            == found
            == [[f"false_{chat}_L0000", f"false_{chat}_L0001"]]
        )
    finally:
        server.terminate()
        server.wait()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_servers_on_one_database_make_one_job_per_burst(database_url) -> None:
    chats = [f"55119888800{n:02d}@c.us" for n in range(12)]
    ports = [free_port() for _ in range(3)]
    servers = [start_server(database_url, port, quiet_ms=4000) for port in ports]
    try:
        for port in ports:  # each server's writer process starts before the bursts do
            warm = delivery("session.status", {"status": "WORKING"}, f"warm-{port}")
            assert post(f"http://127.0.0.1:{port}", warm).status_code == 200
        for n in range(3):  # each chat's bubbles reach different servers
            for index, chat in enumerate(chats):
                body = delivery("message", inbound_from(chat, n), f"{chat}-{n}")
                url = f"http://127.0.0.1:{ports[(index + n) % 3]}"
                assert post(url, body).status_code == 200
        found = job_messages(database_url, len(chats))
        time.sleep(1.5)
        assert job_messages(database_url, len(chats)) == found
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
    assert found == [[f"false_{chat}_L{n:04d}" for n in range(3)] for chat in chats]
