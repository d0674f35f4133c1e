"""Webhooks and an import of the same chats at once: every message once, sessions as the rule
says over the whole history (both back ends, real HTTP for WAHA and for the webhooks)."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import UTC, datetime

import aiohttp
import orjson
from sqlalchemy import func, select

from chatport.bootstrap import build
from chatport.engines.inprocess.runner import run_job
from chatport.ingest import import_jobs
from chatport.ingest.waha.import_step import WahaImport
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.client import WahaSettings
from chatport.sources.waha.webhooks import sign
from chatport.store import channels
from chatport.store.channels import sessions_follow_the_rule
from chatport.store.tables import messages
from tests.integration.test_waha_import import new_job
from tests.servers import serve_app

KEY = "my-secret-key"
WORLD = World(chats=60, messages=4_000, seed=9)


def live_deliveries(rng: random.Random) -> tuple[list[bytes], set[str], int]:
    """10,000 `message` deliveries: history messages the import also brings and new ones at
    random times in the same chats, 20 % of them sent twice, shuffled; the ids of the new
    messages; and how many history messages the import stores."""
    history, new = [], []
    displayable = 0
    for chat in WORLD.chats:
        records = [r for r in WORLD.messages(chat) if not r.hidden]
        displayable += len(records)
        if chat.id.endswith("@lid"):  # live LID resolution needs the stored mapping (later)
            continue
        history += [r.message for r in records]
        first, last = records[0].timestamp, records[-1].timestamp
        for n in range(len(records) * 2):
            template = rng.choice(records).message
            wa_id = f"LIVE{chat.index:04d}{n:06d}"
            new.append(
                {
                    **template,
                    "id": f"{str(template['fromMe']).lower()}_{chat.id}_{wa_id}",
                    "timestamp": rng.randint(first, last + 86_400),
                    "_data": {
                        **template["_data"],
                        "key": {**template["_data"]["key"], "id": wa_id},
                    },
                }
            )
    chosen = rng.sample(history, min(len(history), 3_000)) + rng.sample(new, 5_000)
    chosen += rng.sample(chosen, 2_000)
    rng.shuffle(chosen)
    bodies = [
        orjson.dumps(
            {"id": f"evt_{i}", "event": "message.any", "session": "default", "payload": payload}
        )
        for i, payload in enumerate(chosen)
    ]
    new_ids = {p["id"] for p in chosen if "_LIVE" in p["id"]}
    return bodies, new_ids, displayable


async def post_all(url: str, bodies: list[bytes]) -> list[int]:
    """Deliver every body over 128 connections (WAHA sends each event on its own)."""
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: bytes) -> int:
            headers = sign(body, KEY) | {"content-type": "application/json"}
            async with session.post(f"{url}/webhooks/waha", data=body, headers=headers) as answer:
                await answer.read()
                return answer.status

        return await asyncio.gather(*(one(body) for body in bodies))


def test_webhooks_during_an_import_store_every_message_once(database_url: str) -> None:
    bodies, new_ids, displayable = live_deliveries(random.Random(3))
    services = build(Settings(database_url=database_url, webhook_hmac_key=KEY))
    database = services.database
    try:
        with (
            simulator_in_thread(SimulatorConfig(world=WORLD)) as waha_url,
            serve_app(services) as api,
        ):
            job = new_job(database)
            waha = WahaSettings(url=waha_url, page_size=64)
            importer = WahaImport(database, database.channel(), job, waha, chunk_size=300)
            outcome: list[str] = []
            importing = threading.Thread(target=lambda: outcome.append(run_job(importer)))
            importing.start()
            statuses = asyncio.run(post_all(api, bodies))
            importing.join(timeout=300)
        assert outcome == ["completed"] and set(statuses) == {200}
        with database.engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(messages)).scalar_one()
        assert stored == displayable + len(new_ids)
        channel = database.channel()
        assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)
    finally:
        services.close()


def test_one_chat_imported_while_its_webhooks_arrive(database_url: str) -> None:
    chat = next(c for c in WORLD.chats if c.id.endswith("@c.us"))
    records = [r for r in WORLD.messages(chat) if not r.hidden]
    rng = random.Random(5)
    bodies, new_ids, _ = live_deliveries(rng)
    mine = [body for body in bodies if orjson.loads(body)["payload"]["id"].split("_")[1] == chat.id]
    services = build(Settings(database_url=database_url, webhook_hmac_key=KEY))
    database = services.database
    try:
        config = SimulatorConfig(world=WORLD, faults=Faults(latency_ms=5))
        with simulator_in_thread(config) as waha_url, serve_app(services) as api:
            channel = database.channel()
            with database.unit_of_work() as uow:
                channels.remember_waha(
                    uow.connection,
                    channel,
                    waha_url,
                    "default",
                    None,
                    trusted=True,
                    secrets=database.secrets,
                )
                uow.commit()
            params = {"chats": [chat.id], "page_size": 16, "chunk_size": 40}
            job = import_jobs.create_job(database, channel, None, datetime.now(UTC), params)
            importer = import_jobs.importer_for(services, job)
            outcome: list[str] = []
            importing = threading.Thread(target=lambda: outcome.append(run_job(importer)))
            importing.start()
            statuses = asyncio.run(post_all(api, mine))
            importing.join(timeout=300)
            assert config.sent == []  # nothing but reads reached WAHA
        assert outcome == ["completed"] and set(statuses) == {200}
        with database.engine.connect() as connection:
            stored = connection.execute(select(messages.c.chat_id, messages.c.external_id)).all()
        new_here = {i for i in new_ids if i.split("_")[1] == chat.id}
        assert {row.chat_id for row in stored} == {chat.id}
        assert len(stored) == len(records) + len(new_here)
        assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)
    finally:
        services.close()
