"""The agent deliverer against jobs and hosts that misbehave, on both back ends: an
in-process agent that raises SystemExit or KeyboardInterrupt fails its job only; a deliverer
whose lease ran out while its agent was slow neither sends nor stores a second reply; a
tenant's agent or WAHA is not reached on a private address, nor named in-process; errors on a
job never quote what a tenant's host answered."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from chatport.agent.debouncer import Debouncer
from chatport.agent.delivery import AgentDeliverer, reply_to_job
from chatport.bootstrap import build
from chatport.domain.model import Origin
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.channels import remember_waha
from chatport.store.reads import api as reads
from chatport.store.tables import agent_jobs, messages
from tests.agents import sends
from tests.builders import incoming
from tests.integration.test_agent_delivery import Agent, burst_with_job, job_row
from tests.integration.test_bursts import CHAT, RULES
from tests.servers import serve_asgi

HERE = "python:tests.integration.test_agent_safety"
RUDE = threading.Event()  # set when rude_agent answered its polite burst
CHATS = ("551100000001@c.us", "551100000002@c.us", "551100000003@c.us")


def rude_agent(payload: dict) -> str:
    """Exits on "exit", interrupts on "interrupt", answers anything else."""
    text = payload["messages"][0]["text"]
    if text == "exit":
        raise SystemExit(3)
    if text == "interrupt":
        raise KeyboardInterrupt
    RUDE.set()
    return "fine, thanks"


def jobs_by_chat(database) -> dict[str, tuple]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(agent_jobs.c.chat_id, agent_jobs.c.status, agent_jobs.c.error, agent_jobs.c.id)
        ).all()
    return {row.chat_id: (row.status, row.error, str(row.id)) for row in rows}


def bursts_in_chats(services, texts: dict[str, str], tag: str = "b") -> None:
    """One closed burst (and job) per chat, of one bubble saying `texts[chat]` (its id starts
    with `tag`)."""
    database = services.database
    channel = replace(database.channel(), has_agent=True)
    start = datetime.now(UTC) - timedelta(seconds=30)
    for n, (chat, text) in enumerate(texts.items()):
        bubble = incoming(f"{tag}{n}", sent_at=start, chat=chat, text=text)
        database.write_batch(channel, [bubble], origin=Origin.LIVE, now=start)
    made = Debouncer(database, RULES).run_once(start + timedelta(seconds=10))
    assert len(made) == len(texts)


def burst(services, agent_url: str | None, tag: str) -> None:
    """A closed burst in CHAT and its job, for the channel's own agent `agent_url` (None: the
    operator's)."""
    with services.database.unit_of_work() as uow:
        reads.set_agent(uow.connection, uow.channel().id, agent_url, None, None)
        uow.commit()
    bursts_in_chats(services, {CHAT: "hello"}, tag)


def test_jobs_that_raise_anything_fail_alone_and_the_thread_goes_on(database_url, caplog):
    caplog.set_level(logging.ERROR, logger="chatport.agent.delivery")
    RUDE.clear()
    settings = Settings(database_url=database_url, agent_url=f"{HERE}:rude_agent")
    services = build(settings)
    database = services.database
    chats = dict(zip(CHATS, ("exit", "interrupt"), strict=False))
    bursts_in_chats(services, {**chats, CHATS[2]: "hello"})
    deliverer = AgentDeliverer(database, settings).start()
    try:
        assert RUDE.wait(30), "the deliverer stopped before the polite burst"
    finally:
        deliverer.close()  # the round under way (every job claimed with it) ends first
    assert not deliverer._thread.is_alive()
    found = jobs_by_chat(database)
    assert found[CHATS[2]][:2] == ("replied", None)
    assert found[CHATS[0]][:2] == ("pending", "SystemExit: 3")
    assert found[CHATS[1]][:2] == ("pending", "KeyboardInterrupt: ")
    logged = caplog.text
    assert all(found[chat][2] in logged for chat in chats)  # each with its job id
    # on the caller's thread too (`run_once`): SystemExit fails the job, the caller goes on
    # (a KeyboardInterrupt there may be Ctrl-C: it is the caller's)
    with database.unit_of_work() as uow:
        uow.connection.execute(agent_jobs.delete().where(agent_jobs.c.chat_id != CHATS[0]))
        uow.commit()
    later = datetime.now(UTC) + timedelta(minutes=10)
    deliverer = AgentDeliverer(database, settings)
    assert deliverer.run_once(later) == 1
    deliverer.close()
    assert jobs_by_chat(database)[CHATS[0]][:2] == ("pending", "SystemExit: 3")
    services.close()


SLOW_ENTERED, SLOW_RELEASE = threading.Event(), threading.Event()
SLOW_CALLS: list[str] = []


def slow_agent(payload: dict) -> str:
    """The first call waits until released (its deliverer's lease runs out meanwhile); later
    calls answer at once."""
    SLOW_CALLS.append(payload["job_id"])
    if len(SLOW_CALLS) == 1:
        SLOW_ENTERED.set()
        assert SLOW_RELEASE.wait(30)
        return "the slow deliverer's reply"
    return "the second deliverer's reply"


def test_a_job_taken_over_after_its_lease_ran_out_is_answered_once(database_url, caplog):
    caplog.set_level(logging.WARNING, logger="chatport.agent.delivery")
    SLOW_ENTERED.clear(), SLOW_RELEASE.clear(), SLOW_CALLS.clear()
    settings = Settings(database_url=database_url, agent_url=f"{HERE}:slow_agent")
    services = build(settings)
    database = services.database
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1))
    with simulator_in_thread(config) as waha:
        with database.unit_of_work() as uow:
            remember_waha(
                uow.connection,
                uow.channel(),
                waha,
                "default",
                None,
                trusted=True,
                secrets=database.secrets,
            )
            uow.commit()
        burst_with_job(services, None)
        slow = AgentDeliverer(database, settings, lease=timedelta(0))  # over at once
        asking = threading.Thread(target=slow.run_once)
        asking.start()
        try:
            assert SLOW_ENTERED.wait(30)
            second = AgentDeliverer(database, settings)
            assert second.run_once() == 1  # the lease ran out: claimed again, answered
            second.close()
        finally:
            SLOW_RELEASE.set()
            asking.join(30)
        slow.close()
    assert len(SLOW_CALLS) == 2 and not asking.is_alive()
    [sent] = config.sent  # the customer got one reply
    assert sent["body"] == "the second deliverer's reply"
    job = job_row(database)
    assert (job.status, job.reply, job.attempts) == ("replied", sent["body"], 2)
    with database.engine.connect() as connection:
        stored = connection.execute(
            select(messages.c.external_id, messages.c.text).where(messages.c.from_me)
        ).all()
    assert [tuple(row) for row in stored] == [(sent["id"], sent["body"])]
    assert f"agent job {job.id} was taken over by another process" in caplog.text
    services.close()


def test_two_late_replies_to_one_waiting_job_are_sent_once(database_url) -> None:
    settings = Settings(database_url=database_url, allow_private_urls=True)
    services = build(settings)
    database = services.database
    agent = Agent(202)
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1))
    with simulator_in_thread(config) as waha, serve_asgi(agent.app) as url:
        with database.unit_of_work() as uow:
            remember_waha(
                uow.connection, uow.channel(), waha, "default", None, secrets=database.secrets
            )
            uow.commit()
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(database, settings)
        deliverer.run_once()
        deliverer.close()
        waiting = job_row(database)  # both replies were posted for the job as read here
        assert waiting.status == "waiting"
        assert reply_to_job(database, settings, waiting, "Here you are") is True
        assert reply_to_job(database, settings, waiting, "Here you are again") is False
        assert [state for state, *_ in sends(database)] == ["pending"]  # history already
        deliverer = AgentDeliverer(database, settings)
        assert deliverer.run_once() == 1  # the send
        deliverer.close()
    assert [sent["body"] for sent in config.sent] == ["Here you are"]
    assert (job_row(database).status, job_row(database).reply) == ("replied", "Here you are")
    services.close()


CALLED: list[dict] = []


def recording_agent(payload: dict) -> str:
    CALLED.append(payload)
    return "called"


def test_a_channel_agent_may_not_be_in_process(database_url) -> None:
    """A channel's `agent_url` is a tenant's, even when it was stored before the API refused
    in-process agents: it is not called."""
    CALLED.clear()
    services = build(Settings(database_url=database_url, allow_private_urls=True))
    burst_with_job(services, f"{HERE}:recording_agent")
    deliverer = AgentDeliverer(services.database, services.settings)
    assert deliverer.run_once() == 1
    deliverer.close()
    job = job_row(services.database)
    assert CALLED == [] and job.status == "pending"
    assert "may not name an in-process agent" in job.error
    services.close()


def test_a_channel_agent_on_a_private_address_is_not_connected_to(database_url) -> None:
    services = build(Settings(database_url=database_url))
    database = services.database
    agent = Agent("hello")
    with serve_asgi(agent.app) as url:
        port = url.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):  # literal, name, mapped
            with database.unit_of_work() as uow:
                uow.connection.execute(agent_jobs.delete())
                uow.commit()
            burst(services, f"http://{host}:{port}/agent", host)
            deliverer = AgentDeliverer(database, services.settings)
            assert deliverer.run_once() == 1
            deliverer.close()
            job = job_row(database)
            assert job.status == "pending" and "a loopback address" in job.error, job.error
            assert job.error.startswith("UrlRefused: ")
        assert agent.received == []
        # the operator may allow private networks
        allowing = services.settings.model_copy(update={"allow_private_urls": True})
        deliverer = AgentDeliverer(database, allowing)
        assert deliverer.run_once(datetime.now(UTC) + timedelta(minutes=10)) == 1
        deliverer.close()
    assert len(agent.received) == 1 and job_row(database).status == "replied"
    services.close()


def test_a_tenants_waha_on_a_private_address_is_not_sent_to(database_url) -> None:
    settings = Settings(database_url=database_url, agent_url=f"{HERE}:recording_agent")
    services = build(settings)
    database = services.database
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1))
    with simulator_in_thread(config) as waha:
        with database.unit_of_work() as uow:  # a tenant's URL, resolving to loopback now
            rebound = waha.replace("127.0.0.1", "localhost")
            remember_waha(
                uow.connection, uow.channel(), rebound, "default", None, secrets=database.secrets
            )
            uow.commit()
        burst_with_job(services, None)
        deliverer = AgentDeliverer(database, settings)
        assert deliverer.run_once() == 1
        deliverer.close()
    assert config.sent == [] and config.faults.requests == 0
    job = job_row(database)
    assert (job.status, job.reply) == ("replied", "called")  # history, its send pending
    [(state, _, error, _, _)] = sends(database)
    assert state == "pending" and "sendText" in error and "a loopback address" in error
    services.close()


SECRET = "Traceback: db password=hunter2"


async def failing(request: Request) -> Response:
    return PlainTextResponse(SECRET, status_code=500)


def test_errors_on_a_job_do_not_quote_what_a_tenants_host_answered(database_url, caplog):
    caplog.set_level(logging.WARNING)
    settings = Settings(database_url=database_url, allow_private_urls=True)
    services = build(settings)
    database = services.database
    app = Starlette(routes=[Route("/agent", failing, methods=["POST"])])
    with serve_asgi(app) as url:
        burst_with_job(services, f"{url}/agent")
        deliverer = AgentDeliverer(database, settings)
        deliverer.run_once()
        deliverer.close()
    assert job_row(database).error == "AgentRejected: agent answered 500"
    assert SECRET in caplog.text  # in the server's log only
    # WAHA, a tenant's: refuses to send (its session is stopped), with a body of its own
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1), status="STOPPED")
    with simulator_in_thread(config) as waha:
        with database.unit_of_work() as uow:
            uow.connection.execute(agent_jobs.delete())
            remember_waha(
                uow.connection, uow.channel(), waha, "default", None, secrets=database.secrets
            )
            uow.commit()
        burst(services, None, "again")
        with_agent = settings.model_copy(update={"agent_url": f"{HERE}:recording_agent"})
        deliverer = AgentDeliverer(database, with_agent)
        deliverer.run_once()
        deliverer.close()
    [(_, _, error, _, _)] = sends(database)
    assert error == "sending through WAHA: POST /api/sendText: HTTP 422", error
    assert "not WORKING" in caplog.text
    services.close()
