"""Humans and the bot through `chatport serve`'s app, on both back ends: a human's reply from
the phone pauses the chat's bot (the customer's next message wakes no agent), the bot switch
of the API and of the console turns it on, off or paused, and the job says when a human spoke
lately."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.store import tenants
from chatport.store.tables import agent_jobs, bursts
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import serve_app
from tests.waiting import PATIENCE, eventually

CHAT = "5511944440004@c.us"
PAYLOADS: list[dict] = []


def agent(payload: dict) -> str:
    PAYLOADS.append(payload)
    return "a bot's answer"


def open_bursts(database) -> int:
    with database.engine.connect() as connection:
        query = select(bursts.c.id).where(bursts.c.status == "open", bursts.c.chat_id == CHAT)
        return len(connection.execute(query).all())


def replied(database) -> int:
    with database.engine.connect() as connection:
        query = select(agent_jobs.c.id).where(agent_jobs.c.status == "replied")
        return len(connection.execute(query).all())


def test_a_human_reply_pauses_the_bot_and_the_switch_turns_it(database_url) -> None:
    PAYLOADS.clear()
    settings = Settings(
        database_url=database_url,
        webhook_hmac_key=WEBHOOK_KEY,
        agent_url="python:tests.integration.test_handoff:agent",
        debounce_quiet_ms=200,
        handoff_minutes=30,
    )
    services = build(settings)
    database = services.database
    with database.unit_of_work() as uow:
        tenant, _ = tenants.ensure_tenant(uow.connection, "default")
        key = tenants.create_key(uow.connection, tenant)
        uow.commit()
    with serve_app(services) as api, httpx.Client(base_url=api, timeout=PATIENCE) as http:
        headers = {"X-Api-Key": key}
        bot = f"/v1/channels/default/chats/{CHAT}/bot"
        n = iter(range(100))

        def customer_writes() -> None:
            number = next(n)
            body = delivery("message", inbound_from(CHAT, number), f"in-{number}")
            assert post(api, body).status_code == 200

        customer_writes()
        eventually(lambda: replied(database) == 1, "the bot answered the first burst")
        assert PAYLOADS[0]["human"] == {"last_at": None, "recent": False}
        phone = {
            "id": f"true_{CHAT}_PHONE1",
            "timestamp": int(datetime.now(UTC).timestamp()),
            "from": "5511888880000@c.us",
            "to": CHAT,
            "fromMe": True,
            "source": "app",
            "body": "Hi, Ana here, let me help you",
        }
        assert post(api, delivery("message.any", phone, "phone-1")).status_code == 200
        state = http.get(bot, headers=headers).json()
        assert state["mode"] == "paused" and state["last_human_at"]
        until = datetime.fromisoformat(state["paused_until"])
        assert timedelta(minutes=29) < until - datetime.now(UTC) <= timedelta(minutes=30)
        customer_writes()  # the human is on it: no burst, so no job
        assert open_bursts(database) == 0
        chats = http.get("/v1/channels/default/chats", headers=headers).json()["items"]
        assert [(c["chat_id"], c["bot"]) for c in chats] == [(CHAT, "paused")]

        assert http.put(bot, json={"mode": "on"}, headers=headers).json()["mode"] == "on"
        customer_writes()
        eventually(lambda: replied(database) == 2, "the bot answered again once on")
        assert PAYLOADS[1]["human"]["recent"] is True  # a human spoke a minute ago
        spoke = datetime.fromisoformat(PAYLOADS[1]["human"]["last_at"])
        assert spoke == datetime.fromisoformat(state["last_human_at"])

        assert http.put(bot, json={"mode": "off"}, headers=headers).json()["mode"] == "off"
        customer_writes()
        assert open_bursts(database) == 0
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        paused = http.put(bot, json={"mode": "paused", "until": later}, headers=headers)
        assert paused.json()["mode"] == "paused"
        refused = http.put(bot, json={"mode": "paused"}, headers=headers)
        assert refused.status_code == 422  # paused until when?
        missing = http.get("/v1/channels/default/chats/5511000000000@c.us/bot", headers=headers)
        assert missing.status_code == 404

        console = httpx.Client(base_url=api, timeout=PATIENCE, headers={"Origin": api})
        console.post("/login", data={"api_key": key, "next": "/"})
        page = console.get(f"/channels/default/chats/{CHAT}").text
        assert "Bot <strong>paused</strong>" in page
        switched = console.post(f"/channels/default/chats/{CHAT}/bot", data={"mode": "on"})
        assert switched.status_code == 303
        assert http.get(bot, headers=headers).json()["mode"] == "on"
        console.close()
    services.close()
