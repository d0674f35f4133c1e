"""Typing-aware windows, on both back ends: WAHA's `presence.update` with the contact composing
restarts the quiet window of their open burst (the max wait still caps it), through the
webhook endpoint of `chatport serve`'s app; the debouncer on a controlled clock."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from chatport.agent.debouncer import Debouncer
from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.store.jobs.bursts import typing_in_bursts
from chatport.store.tables import bursts
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_bursts import CHAT, RULES, at, jobs, live
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import serve_app


def typing(database, channel, seconds: float, who: str = CHAT) -> int:
    with database.unit_of_work() as uow:
        touched = typing_in_bursts(uow.connection, channel.id, [(CHAT, who)], at(seconds))
        uow.commit()
    return touched


def test_typing_restarts_the_quiet_window_and_the_max_wait_caps_it(database) -> None:
    channel = replace(database.channel(), has_agent=True)
    debouncer = Debouncer(database, RULES)  # quiet 3 s, max wait 20 s
    live(database, channel, 0, "b0")
    assert typing(database, channel, 2.5) == 1  # still writing
    assert debouncer.run_once(at(4)) == []  # a fixed window would have closed at 3 s
    live(database, channel, 5, "b1")  # the rest of the thought
    assert len(debouncer.run_once(at(8))) == 1
    assert [ids for _, ids, _ in jobs(database)] == [["b0", "b1"]]
    live(database, channel, 30, "c0")
    for seconds in range(32, 52, 2):  # typing for ever
        typing(database, channel, seconds)
        if debouncer.run_once(at(seconds + 0.5)):
            break
    assert seconds == 50 and [ids for _, ids, _ in jobs(database)][-1] == ["c0"]  # 20 s cap
    assert typing(database, channel, 60) == 0  # no open burst: typing opens none


def test_presence_update_webhooks_move_the_burst(database_url) -> None:
    settings = Settings(
        database_url=database_url, webhook_hmac_key=WEBHOOK_KEY, agent_url="http://127.0.0.1:9"
    )
    services = build(settings)
    database = services.database

    def last_at():
        with database.engine.connect() as connection:
            return connection.execute(
                select(bursts.c.last_at).where(bursts.c.status == "open")
            ).scalar_one()

    def presence(state: str, n: int) -> int:
        payload = {
            "id": CHAT,
            "presences": [{"participant": CHAT, "lastKnownPresence": state, "lastSeen": None}],
        }
        return post(api, delivery("presence.update", payload, f"presence-{n}")).json()

    with serve_app(services) as api:
        assert post(api, delivery("message", inbound_from(CHAT, 1), "in-1")).status_code == 200
        before = last_at()
        assert presence("paused", 1) == {"outcome": "ignored"}
        assert last_at() == before
        assert presence("typing", 2) == {"outcome": "stored"}
        assert last_at() > before
    services.close()
