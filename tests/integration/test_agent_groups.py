"""Groups and the agent, on both back ends: a group wakes no agent unless its channel (or
CHATPORT_AGENT_GROUPS) lets it; then two participants' bubbles are two bursts, two jobs, and
each job names its participant. Webhooks through `chatport serve`'s app, a controlled clock
for the debouncer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from chatport.agent.debouncer import Debouncer
from chatport.agent.delivery import AgentDeliverer
from chatport.bootstrap import build
from chatport.domain.model import ContactRef, Origin
from chatport.settings import Settings
from chatport.store.tables import agent_jobs, channels
from tests.builders import incoming
from tests.integration.test_bursts import RULES

GROUP = "120363000000000001@g.us"
ANA, BEN = "5511911110001@c.us", "5511922220002@c.us"
PAYLOADS: list[dict] = []


def recording_agent(payload: dict) -> str:
    PAYLOADS.append(payload)
    return f"hello {payload['participant']['name'] if payload['participant'] else 'you'}"


def group_bubbles(services, channel, start: datetime) -> None:
    """Ana, Ben, Ana in the group, a second apart; one bubble in a 1:1 chat."""
    database = services.database
    for n, (who, name) in enumerate(((ANA, "Ana"), (BEN, "Ben"), (ANA, "Ana"))):
        sent = start + timedelta(seconds=n)
        bubble = incoming(f"g{n}", sent_at=sent, chat=GROUP, text=f"{name} {n}")
        bubble.author = ContactRef(who, name=name)
        database.write_batch(channel, [bubble], origin=Origin.LIVE, now=sent)
    alone = incoming("one", sent_at=start, chat="5511933330003@c.us", text="hi")
    database.write_batch(channel, [alone], origin=Origin.LIVE, now=start)


def jobs(database) -> list[tuple]:
    with database.engine.connect() as connection:
        query = select(agent_jobs.c.chat_id, agent_jobs.c.participant, agent_jobs.c.message_ids)
        return sorted(tuple(row) for row in connection.execute(query))


def test_groups_wake_no_agent_unless_the_channel_lets_them(database_url) -> None:
    services = build(Settings(database_url=database_url))
    database = services.database
    channel = replace(database.channel(), has_agent=True, agent_groups=False)
    start = datetime.now(UTC) - timedelta(minutes=5)
    group_bubbles(services, channel, start)
    Debouncer(database, RULES).run_once(start + timedelta(seconds=30))
    assert jobs(database) == [("5511933330003@c.us", None, ["one"])]  # the 1:1 chat only
    services.close()


def test_with_groups_on_each_participant_has_a_burst_and_a_job_naming_them(database_url):
    PAYLOADS.clear()
    here = "python:tests.integration.test_agent_groups:recording_agent"
    settings = Settings(database_url=database_url, agent_url=here)
    services = build(settings)
    database = services.database
    with database.unit_of_work() as uow:  # the channel's own policy (the setting is off)
        uow.connection.execute(update(channels).values(agent_groups=True))
        uow.commit()
    channel = replace(database.channel(), has_agent=True)
    assert channel.agent_groups is True
    start = datetime.now(UTC) - timedelta(minutes=5)
    group_bubbles(services, channel, start)
    Debouncer(database, RULES).run_once(start + timedelta(seconds=30))
    assert jobs(database) == [
        ("120363000000000001@g.us", ANA, ["g0", "g2"]),
        ("120363000000000001@g.us", BEN, ["g1"]),
        ("5511933330003@c.us", None, ["one"]),
    ]
    deliverer = AgentDeliverer(database, settings)
    assert deliverer.run_once() == 3
    deliverer.close()
    in_group = sorted(
        (p["participant"]["wa_id"], p["participant"]["name"], [m["text"] for m in p["messages"]])
        for p in PAYLOADS
        if p["participant"]
    )
    assert in_group == [(ANA, "Ana", ["Ana 0", "Ana 2"]), (BEN, "Ben", ["Ben 1"])]
    with database.engine.connect() as connection:
        replies = connection.execute(select(agent_jobs.c.reply)).scalars()
        assert sorted(replies) == ["hello Ana", "hello Ben", "hello you"]
    services.close()
