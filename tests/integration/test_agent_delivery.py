"""Agent jobs delivered to a real HTTP agent over loopback (and an in-process one), the
reply stored in the chat history; retries, failure, a late reply by the API (both back ends).
The channels' agents here are on loopback: the settings allow private URLs
(tests/integration/test_agent_safety.py shows them refused otherwise)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatport.agent.debouncer import Debouncer
from chatport.agent.delivery import AgentDeliverer
from chatport.bootstrap import build
from chatport.domain.model import Origin
from chatport.settings import Settings
from chatport.store import tenants
from chatport.store.reads import api as reads
from chatport.store.tables import agent_jobs, chats, messages
from tests.builders import incoming
from tests.integration.test_bursts import CHAT, RULES, at, live
from tests.servers import serve_app, serve_asgi
from tests.waiting import PATIENCE, eventually

AGENT_KEY = "agent-secret"


class Agent:
    """A test agent: answers with `answers` in turn (a status, or a reply text), records
    what it was sent and whether the signature was right."""

    def __init__(self, *answers: int | str, secret: str | bytes | None = None) -> None:
        self.answers = list(answers)
        self.received: list[dict] = []
        self.signed: list[bool] = []
        self.verified: list[bool] = []  # the Standard Webhooks headers, checked by its library
        self.headers: list[dict] = []
        self.webhook = Webhook(secret if secret is not None else AGENT_KEY.encode())
        self.app = Starlette(routes=[Route("/agent", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        expected = hmac.new(AGENT_KEY.encode(), body, hashlib.sha256).hexdigest()
        self.signed.append(request.headers.get("x-chatport-signature") == f"sha256={expected}")
        self.headers.append(dict(request.headers))
        try:
            self.webhook.verify(body, dict(request.headers))
            self.verified.append(True)
        except WebhookVerificationError:
            self.verified.append(False)
        self.received.append(orjson.loads(body))
        answer = self.answers.pop(0) if self.answers else "ok"
        if isinstance(answer, int):
            return Response(status_code=answer)
        return JSONResponse({"reply": answer})


def echo_agent(payload: dict) -> str:
    """An in-process agent (`python:tests.integration.test_agent_delivery:echo_agent`)."""
    return "you said: " + " / ".join(m["text"] for m in payload["messages"])


ECHO_AGENT = "python:tests.integration.test_agent_delivery:echo_agent"


def with_agent(services, agent_url: str):
    """The services' settings with the operator's agent `agent_url` (`CHATPORT_AGENT_URL`:
    in-process agents are the operator's to name)."""
    return services.settings.model_copy(update={"agent_url": agent_url})


def burst_with_job(services, agent_url: str | None) -> None:
    """A closed burst of three bubbles in CHAT, and its job; `agent_url`: the channel's own
    agent (None: the operator's, `with_agent`)."""
    database = services.database
    channel = database.channel()
    if agent_url is not None:
        with database.unit_of_work() as uow:
            reads.set_agent(uow.connection, channel.id, agent_url, None, None)
            uow.commit()
    channel = replace(channel, has_agent=True)
    start = datetime.now(UTC) - timedelta(seconds=30)  # the reply comes a little later
    for n, text in enumerate(("Hi", "I want", "to order")):
        sent = start + timedelta(seconds=n)
        bubble = incoming(f"bubble{n}", sent_at=sent, chat=CHAT, text=text)
        database.write_batch(channel, [bubble], origin=Origin.LIVE, now=sent)
    assert len(Debouncer(database, RULES).run_once(start + timedelta(seconds=10))) == 1


def job_row(database):
    with database.engine.connect() as connection:
        return connection.execute(select(agent_jobs)).one()


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, agent_hmac_key=AGENT_KEY, allow_private_urls=True)


def test_a_job_is_posted_signed_and_the_reply_lands_in_the_chat(database_url) -> None:
    services = build(settings_for(database_url))
    database = services.database
    agent = Agent("What would you like to order?")
    with serve_asgi(agent.app) as url:
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(database, services.settings)
        assert deliverer.run_once() == 1
        deliverer.close()
    sent = agent.received[0]
    assert agent.signed == [True] and agent.verified == [True] and sent["chat_id"] == CHAT
    assert agent.headers[0]["webhook-id"] == sent["job_id"]
    assert [m["text"] for m in sent["messages"]] == ["Hi", "I want", "to order"]
    assert [m["id"] for m in sent["context"]] == ["bubble0", "bubble1", "bubble2"]
    job = job_row(database)
    assert (job.status, job.reply, job.attempts) == ("replied", "What would you like to order?", 1)
    with database.engine.connect() as connection:
        stored = connection.execute(
            select(messages.c.origin, messages.c.from_me, messages.c.session_id).where(
                messages.c.external_id == f"chatport-agent-{job.id}"
            )
        ).one()
        preview = connection.execute(select(chats.c.last_message_text)).scalar()
    assert (stored.origin, stored.from_me, stored.session_id) == ("agent", True, job.session_id)
    assert preview == "What would you like to order?"
    services.close()


def test_jobs_are_signed_the_standard_webhooks_way(database_url) -> None:
    """With `CHATPORT_AGENT_WEBHOOK_SECRET`, an agent verifies jobs with the Standard Webhooks
    library (a tampered body or a wrong secret does not verify); no deprecated header then."""
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    settings = Settings(
        database_url=database_url, agent_webhook_secret=secret, allow_private_urls=True
    )
    services = build(settings)
    agent = Agent(202, secret=secret)
    with serve_asgi(agent.app) as url:
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(services.database, settings)
        assert deliverer.run_once() == 1
        deliverer.close()
    [headers] = agent.headers
    assert agent.verified == [True] and "x-chatport-signature" not in headers
    body = orjson.dumps(agent.received[0])
    with pytest.raises(WebhookVerificationError):  # another body
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):  # another secret
        Webhook(base64.b64encode(b"x" * 32).decode()).verify(body, headers)
    services.close()


def test_failures_are_retried_with_backoff_then_the_job_fails_visibly(database_url) -> None:
    services = build(settings_for(database_url))
    database = services.database
    agent = Agent(500, 503, "finally")
    with serve_asgi(agent.app) as url:
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(database, services.settings, max_attempts=3)
        assert deliverer.run_once() == 1
        first = job_row(database)
        assert first.status == "pending" and first.error == "AgentRejected: agent answered 500"
        assert deliverer.run_once() == 0  # not due before its backoff
        later = datetime.now(UTC) + timedelta(minutes=10)
        deliverer.run_once(later)
        deliverer.run_once(later + timedelta(minutes=10))
        deliverer.close()
    assert (job_row(database).status, job_row(database).reply) == ("replied", "finally")
    # an agent that never answers: failed after the last attempt, with the error
    with database.unit_of_work() as uow:
        uow.connection.execute(agent_jobs.delete())
        uow.commit()
    burst_again(services)
    deliverer = AgentDeliverer(database, services.settings, max_attempts=2)
    for minutes in (0, 10, 20):
        deliverer.run_once(datetime.now(UTC) + timedelta(minutes=minutes))
    deliverer.close()
    failed = job_row(database)
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert "ClientConnectorError" in failed.error  # nobody listens on the agent's port
    services.close()


def test_an_agent_slower_than_the_timeout_is_a_failed_attempt(database_url) -> None:
    settings = settings_for(database_url).model_copy(update={"agent_timeout_seconds": 0.3})
    services = build(settings)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.5)
        return JSONResponse({"reply": "too late"})

    app = Starlette(routes=[Route("/agent", slow, methods=["POST"])])
    with serve_asgi(app) as url:
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(services.database, services.settings)
        started = time.monotonic()
        assert deliverer.run_once() == 1
        assert time.monotonic() - started < 1.2
        deliverer.close()
    job = job_row(services.database)
    assert (job.status, job.attempts, job.reply) == ("pending", 1, None)
    assert job.error == "TimeoutError: no answer within 0.3 s"
    services.close()


def burst_again(services) -> None:
    database = services.database
    channel = replace(database.channel(), has_agent=True)
    live(database, channel, 100, "again")
    assert len(Debouncer(database, RULES).run_once(at(110))) == 1


def test_a_late_reply_by_the_api_and_an_in_process_agent(database_url) -> None:
    services = build(settings_for(database_url))
    database = services.database
    with database.unit_of_work() as uow:
        key = tenants.create_key(
            uow.connection, tenants.ensure_tenant(uow.connection, "default")[0]
        )
        other = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "b")[0])
        uow.commit()
    agent = Agent(202)
    with serve_asgi(agent.app) as url:
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(database, services.settings)
        deliverer.run_once()
        deliverer.close()
    job = job_row(database)
    assert job.status == "waiting"
    with serve_app(services) as api, httpx.Client(timeout=PATIENCE) as http:
        path = f"{api}/api/agent-jobs/{job.id}/reply"
        stranger = http.post(path, json={"reply": "x"}, headers={"X-Api-Key": other})
        assert stranger.status_code == 404
        answer = http.post(path, json={"reply": "Later!"}, headers={"X-Api-Key": key})
        assert answer.status_code == 200 and answer.json()["status"] == "replied"
        again = http.post(path, json={"reply": "Twice"}, headers={"X-Api-Key": key})
        assert again.status_code == 409
        listed = http.get(f"{api}/v1/agent-jobs?status=replied", headers={"X-Api-Key": key})
        assert [j["reply"] for j in listed.json()["items"]] == ["Later!"]
    channel_id = database.channel().id
    with database.unit_of_work() as uow:
        uow.connection.execute(agent_jobs.delete())
        reads.set_agent(uow.connection, channel_id, None, None, None)  # the operator's agent
        uow.commit()
    burst_again(services)
    deliverer = AgentDeliverer(database, with_agent(services, ECHO_AGENT))
    deliverer.run_once()
    deliverer.close()
    assert job_row(database).reply == "you said: hello"
    services.close()


CALLS: list[dict] = []


def counting_agent(payload: dict) -> str:
    """An in-process agent that counts its calls."""
    CALLS.append(payload)
    return "On its way!"


def test_a_sleeping_deliverer_is_woken_by_a_new_job(database_url) -> None:
    """Idle for up to two minutes, yet a new job is delivered long before (NOTIFY on
    PostgreSQL, polling every 0.2 s on SQLite)."""
    services = build(settings_for(database_url))
    database = services.database
    deliverer = AgentDeliverer(database, with_agent(services, ECHO_AGENT), idle_seconds=120)
    deliverer.start()
    try:
        eventually(lambda: deliverer.rounds >= 1, "the deliverer went to sleep, with no job")
        burst_with_job(services, None)
        eventually(lambda: job_row(database).status == "replied", "the job was delivered")
        assert job_row(database).reply == "you said: Hi / I want / to order"
    finally:
        started = time.monotonic()
        deliverer.close()
        assert time.monotonic() - started < PATIENCE  # closing does not wait out the sleep
    services.close()


def test_an_idle_deliverer_takes_no_write_lock_on_sqlite(database_url) -> None:
    """On SQLite a deliverer looks for due jobs with a read and claims only what it found:
    its rounds go on while another writer holds the database's one write lock (a claim
    each round would queue behind every writer, webhooks and replies alike)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's one write lock")
    services = build(settings_for(database_url))
    settings = with_agent(services, ECHO_AGENT)
    deliverer = AgentDeliverer(services.database, settings, poll_seconds=0.01, idle_seconds=0.01)
    with services.database.engine.connect().execution_options(sqlite_write=True) as other:
        other.begin()  # BEGIN IMMEDIATE: the write lock is the other's
        deliverer.start()
        try:
            eventually(lambda: deliverer.rounds >= 5, "idle rounds went on", seconds=20)
        finally:
            other.rollback()
            deliverer.close()
    services.close()
