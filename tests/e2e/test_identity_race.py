"""A real `chatport serve` receiving LID-only webhooks while a real `chatport import waha` of
the same channel reads WAHA's `/lids` and writes the same chats: whatever the interleaving,
the end is one contact and one chat per person (none left keyed by a LID whose phone is
known), every message once, and sessions exactly as the rule says over the whole history.
Run several times on both back ends (issue 25's race)."""

from __future__ import annotations

import asyncio
import copy
import random
import subprocess
import time

import orjson
from sqlalchemy import create_engine, func, select

from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.channels import sessions_follow_the_rule
from chatport.store.tables import channels, chats, contacts, messages
from tests.e2e.test_cli import CHATPORT
from tests.integration.test_live_during_import import KEY, post_all
from tests.servers import chatport_serve

WORLD = World(chats=60, messages=6_000, seed=11)


def lid_only(payload: dict) -> dict:
    """The payload as a webhook that names the person only by LID (no alt ids)."""
    payload = copy.deepcopy(payload)
    key = payload["_data"]["key"]
    key.pop("remoteJidAlt", None)
    key.pop("participantAlt", None)
    return payload


def race_deliveries(rng: random.Random) -> tuple[list[bytes], int]:
    """About 1,450 `message` deliveries in chats where people appear by LID: history messages
    the import also brings and new ones, 20 % of them sent twice, shuffled; and how many
    distinct new messages they hold."""
    history, new = [], []
    for chat in WORLD.chats:
        records = [r for r in WORLD.messages(chat) if not r.hidden]
        if not (chat.id.endswith("@lid") or chat.is_group):
            continue
        history += [lid_only(r.message) for r in records]
        for n in range(len(records) // 4):
            payload = lid_only(rng.choice(records).message)
            wa_id = f"RACE{chat.index:04d}{n:05d}"
            payload["id"] = payload["id"].replace(payload["_data"]["key"]["id"], wa_id)
            payload["_data"]["key"]["id"] = wa_id
            payload["timestamp"] += rng.randint(-3_600, 3_600)
            new.append(payload)
    chosen = rng.sample(history, min(len(history), 600)) + rng.sample(new, min(len(new), 600))
    chosen += rng.sample(chosen, len(chosen) // 5)
    rng.shuffle(chosen)
    bodies = [
        orjson.dumps({"id": f"evt_{i}", "event": "message.any", "session": "default", "payload": p})
        for i, p in enumerate(chosen)
    ]
    return bodies, len({p["id"] for p in chosen if "_RACE" in p["id"]})


def test_lid_only_webhooks_racing_an_import_end_in_one_contact_per_person(
    database_url: str,
) -> None:
    bodies, new = race_deliveries(random.Random(1))
    env = {"CHATPORT_WEBHOOK_HMAC_KEY": KEY}
    serving = chatport_serve(CHATPORT, database_url, env, "--log-level", "warning")
    with serving as (api, _), simulator_in_thread(SimulatorConfig(world=WORLD)) as waha:
        argv = [CHATPORT, "import", "waha", "--url", waha, "--db", database_url]
        importing = subprocess.Popen(
            [*argv, "--chunk-size", "300"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        engine = create_engine(database_url)
        with engine.connect() as connection:  # the import has started writing
            count = select(func.count()).select_from(messages)
            while not connection.execute(count).scalar() and importing.poll() is None:
                time.sleep(0.05)
        statuses = asyncio.run(post_all(api, bodies))
        output, _ = importing.communicate(timeout=300)
    assert importing.returncode == 0, output
    assert set(statuses) == {200}
    displayable = sum(1 for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(messages)).scalar()
        lid_contacts = connection.execute(
            select(contacts.c.wa_id).where(contacts.c.wa_id.like("%@lid"))
        ).all()
        lid_chats = connection.execute(
            select(chats.c.chat_id).where(chats.c.chat_id.like("%@lid"))
        ).all()
        channel_id = connection.execute(select(channels.c.id)).scalar_one()
    assert lid_contacts == [] and lid_chats == []  # every LID's phone is in /lids
    assert stored == displayable + new
    assert sessions_follow_the_rule(engine, channel_id, Settings().session_timeout)
    engine.dispose()
