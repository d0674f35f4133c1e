"""Bursts into agent jobs, on both back ends: the write path records, the debouncer closes
(a controlled clock through `run_once(now)`, then real time through `chatport serve`'s app)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from chatport.agent.debouncer import Debouncer
from chatport.bootstrap import build
from chatport.domain.bursts import BurstRules
from chatport.domain.model import Origin
from chatport.settings import Settings
from chatport.store import tenants
from chatport.store.tables import agent_jobs, bursts
from tests.builders import incoming
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import serve_app
from tests.waiting import PATIENCE, eventually, goes_idle

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = BurstRules(quiet=timedelta(seconds=3), max_wait=timedelta(seconds=20))
CHAT = "5511999990001@c.us"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def live(database, channel, seconds: float, external_id: str, **options) -> None:
    """One live message arriving at T0 + seconds (sent then too)."""
    message = incoming(external_id, sent_at=at(seconds), chat=options.pop("chat", CHAT), **options)
    database.write_batch(channel, [message], origin=Origin.LIVE, now=at(seconds))


def jobs(database) -> list[tuple]:
    with database.engine.connect() as connection:
        query = select(agent_jobs.c.chat_id, agent_jobs.c.message_ids, agent_jobs.c.status)
        return [tuple(row) for row in connection.execute(query.order_by(agent_jobs.c.created_at))]


def with_agent(database):
    return replace(database.channel(), has_agent=True)


def test_a_burst_becomes_one_job_after_the_quiet_window(database) -> None:
    channel, debouncer = with_agent(database), Debouncer(database, RULES)
    for n, seconds in enumerate((0, 1, 2)):
        live(database, channel, seconds, f"b{n}")
    assert debouncer.run_once(at(4.9)) == [] and jobs(database) == []
    assert len(debouncer.run_once(at(5))) == 1
    assert jobs(database) == [(CHAT, ["b0", "b1", "b2"], "pending")]
    assert debouncer.run_once(at(60)) == []  # once


def test_a_burst_that_keeps_going_is_cut_at_the_max_wait_and_the_rest_opens_another(
    database,
) -> None:
    channel, debouncer = with_agent(database), Debouncer(database, RULES)
    for n in range(16):  # a bubble every 1.5 s: never quiet for 3 s
        live(database, channel, 1.5 * n, f"k{n:02d}")
        debouncer.run_once(at(1.5 * n + 0.5))
    first = jobs(database)
    assert [ids for _, ids, _ in first] == [[f"k{n:02d}" for n in range(14)]]  # up to 20 s
    debouncer.run_once(at(60))
    assert [ids for _, ids, _ in jobs(database)][1] == ["k14", "k15"]


def test_a_reply_from_the_phone_takes_over_and_history_never_opens_a_burst(database) -> None:
    channel, debouncer = with_agent(database), Debouncer(database, RULES)
    live(database, channel, 0, "q1")
    live(database, channel, 1, "human", from_me=True)
    debouncer.run_once(at(1.5))
    history = [incoming(f"h{n}", sent_at=at(n), chat="5511999990002@c.us") for n in range(3)]
    database.write_batch(channel, history, origin=Origin.IMPORT, now=at(2))
    debouncer.run_once(at(60))
    with database.engine.connect() as connection:
        states = connection.execute(select(bursts.c.chat_id, bursts.c.status)).all()
    assert [tuple(s) for s in states] == [(CHAT, "taken_over")] and jobs(database) == []


def test_channels_without_an_agent_keep_no_bursts(database) -> None:
    live(database, database.channel(), 0, "plain")
    with database.engine.connect() as connection:
        assert connection.execute(select(bursts.c.id)).all() == []


def test_a_message_after_the_close_starts_a_new_burst_and_a_restart_loses_nothing(
    database,
) -> None:
    channel = with_agent(database)
    live(database, channel, 0, "a1")
    Debouncer(database, RULES).run_once(at(3))  # job 1 (being delivered, say)
    live(database, channel, 3.5, "a2")  # arrives meanwhile: a new burst
    # the server restarts in the middle of that window: a new debouncer closes it, once
    restarted = Debouncer(database, RULES)
    assert restarted.run_once(at(5)) == []
    assert len(restarted.run_once(at(6.5))) == 1
    assert [ids for _, ids, _ in jobs(database)] == [["a1"], ["a2"]]


def test_concurrent_debouncers_make_one_job_per_burst(database) -> None:
    channel = with_agent(database)
    for chat in range(30):
        live(database, channel, 0, f"c{chat}", chat=f"55119888800{chat:02d}@c.us")
    made: list = []
    start = threading.Barrier(3)

    def close() -> None:
        start.wait()
        made.extend(Debouncer(database, RULES).run_once(at(10)))

    threads = [threading.Thread(target=close) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == len(jobs(database)) == 30


def test_webhook_bubbles_become_one_job_in_real_time(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        webhook_hmac_key=WEBHOOK_KEY,
        agent_url="http://127.0.0.1:9/agent",
        debounce_quiet_ms=1_500,  # the three posts come well within it, even on a busy machine
        debounce_max_wait_ms=10_000,
    )
    services = build(settings)
    with serve_app(services) as url:
        for n in range(3):
            body = delivery("message", inbound_from(CHAT, n), f"rt{n}")
            assert post(url, body).status_code == 200

        def reported() -> str | None:  # the debouncer's round reports after its commit
            text = httpx.get(f"{url}/metrics", timeout=PATIENCE).text
            return text if "chatport_debounce_seconds_count 1.0" in text else None

        metrics = eventually(reported, "the burst closed into a job")
    assert "chatport_debounce_seconds_count 1.0" in metrics
    assert "chatport_bursts_open 0.0" in metrics and "chatport_agent_jobs{status=" in metrics
    found = jobs(services.database)
    services.close()
    assert [(chat, ids) for chat, ids, _ in found] == [
        (CHAT, [f"false_{CHAT}_L{n:04d}" for n in range(3)])
    ]


def test_a_channel_created_with_an_agent_debounces_with_its_own_windows(database_url) -> None:
    settings = Settings(
        database_url=database_url, webhook_hmac_key=WEBHOOK_KEY, allow_private_urls=True
    )
    services = build(settings)
    database = services.database
    with database.unit_of_work() as uow:
        key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "acme")[0])
        uow.commit()
    with serve_app(services) as url:
        created = httpx.post(
            f"{url}/v1/channels",
            headers={"X-Api-Key": key},
            json={"name": "shop", "agent_url": "http://127.0.0.1:9/a", "debounce_quiet_ms": 300},
            timeout=PATIENCE,
        )
        assert created.status_code == 201, created.text
        assert created.json()["has_agent"] and created.json()["debounce_quiet_ms"] == 300
        body = delivery("message", inbound_from(CHAT, 1), "own1")
        assert post(url, body, channel="shop", tenant="acme").status_code == 200
        eventually(lambda: jobs(database), "the burst closed into a job")
    services.close()
    assert [ids for _, ids, _ in jobs(database)] == [[f"false_{CHAT}_L0001"]]


def test_a_burst_opened_during_the_debouncers_first_round_wakes_the_sleep_after_it(
    database,
) -> None:
    """The debouncer listens before its first look at the bursts (PostgreSQL): a burst
    opened while that look is under way wakes it, instead of being noticed only when its
    two-minute idle sleep ends (it used to LISTEN at its first sleep, after the NOTIFY)."""
    rules = BurstRules(quiet=timedelta(milliseconds=300), max_wait=timedelta(seconds=20))
    debouncer = Debouncer(database, rules, idle_seconds=120)
    work = debouncer._round
    first = threading.Event()

    def round_then_open_a_burst() -> float:
        wait = work()
        if not first.is_set():  # after the first look, before the first sleep
            first.set()
            now = datetime.now(UTC)
            bubble = incoming("first", sent_at=now, chat=CHAT)
            database.write_batch(with_agent(database), [bubble], origin=Origin.LIVE, now=now)
        return wait

    debouncer._round = round_then_open_a_burst
    debouncer.start()
    try:
        eventually(lambda: jobs(database), "the burst opened during the first round closed")
    finally:
        debouncer.close()


def test_a_sleeping_debouncer_is_woken_by_a_new_burst_and_closes_it_on_time(database) -> None:
    """Idle for up to two minutes, yet the job comes right after the quiet window: on
    PostgreSQL a NOTIFY from the write wakes it, on SQLite it polls (every 0.2 s)."""
    rules = BurstRules(quiet=timedelta(milliseconds=500), max_wait=timedelta(seconds=20))
    debouncer = Debouncer(database, rules, idle_seconds=120)
    idle = goes_idle(debouncer)
    debouncer.start()
    try:
        assert idle.wait(PATIENCE)  # asleep, with no burst open
        now = datetime.now(UTC)
        bubble = incoming("wake", sent_at=now, chat=CHAT)
        database.write_batch(with_agent(database), [bubble], origin=Origin.LIVE, now=now)
        # long before the idle sleep would have ended, never before the quiet window did
        eventually(lambda: jobs(database), "the sleeping debouncer closed the burst")
        assert (datetime.now(UTC) - now).total_seconds() >= 0.5
    finally:
        started = time.monotonic()
        debouncer.close()
        assert time.monotonic() - started < PATIENCE  # closing does not wait out the sleep
