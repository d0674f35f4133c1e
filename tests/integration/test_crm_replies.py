"""Humans reply from the CRM through `chatport serve`'s app, on both back ends: the message is
history at once (origin human), sent through WAHA by the server within the channel's send
rate, and pauses the chat's bot; the console's conversation and chat list get new messages by
server-sent events, inbound bubbles with the contact's name."""

from __future__ import annotations

import time

import httpx
import orjson

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from tests.agents import sends, with_waha
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_lids import inbound_from
from tests.integration.test_outbound_messages import api_key
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import serve_app
from tests.waiting import PATIENCE, eventually

CHAT = "5511955550005@c.us"


def events_of(lines, kind: str):
    """The data of the next `kind` event of an SSE stream's lines (pings skipped; a stream
    silent for PATIENCE fails, as its pings stop)."""
    event = None
    deadline = time.monotonic() + PATIENCE
    for line in lines:
        assert time.monotonic() < deadline, f"no {kind} event within {PATIENCE} s"
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == kind:
            return orjson.loads(line.split(":", 1)[1])


def test_a_crm_reply_is_history_sent_paced_and_seen_live(database_url) -> None:
    settings = Settings(
        database_url=database_url,
        webhook_hmac_key=WEBHOOK_KEY,
        allow_private_urls=True,
        send_rate_per_minute=2,
    )
    services = build(settings)
    database = services.database
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1), api_key="waha-key")
    with simulator_in_thread(config) as waha, serve_app(services) as api:
        with_waha(database, waha)
        key = api_key(database)
        headers = {"X-Api-Key": key}
        http = httpx.Client(base_url=api, timeout=PATIENCE, headers=headers)
        console = httpx.Client(base_url=api, timeout=PATIENCE, headers={"Origin": api})
        console.post("/login", data={"api_key": key, "next": "/"})
        bubble = inbound_from(CHAT, 1, _data={"pushName": "Maria Souza"})
        assert post(api, delivery("message", bubble, "in-1")).status_code == 200
        path = f"/v1/channels/default/chats/{CHAT}/messages"
        [inbound] = http.get(path).json()["items"]
        assert inbound["author_name"] == "Maria Souza"
        assert "Maria Souza" in console.get(f"/channels/default/chats/{CHAT}").text

        with (
            console.stream("GET", f"/channels/default/chats/{CHAT}/events") as stream,
            console.stream("GET", "/channels/default/events") as list_stream,
        ):
            conversation, chat_list = stream.iter_lines(), list_stream.iter_lines()
            sent = http.post(path, json={"text": "Hello Maria, Ana from the shop"})
            assert sent.status_code == 202 and sent.json()["send_state"] == "pending"
            shown = events_of(conversation, "message")
            assert "Hello Maria, Ana from the shop" in shown["html"]
            assert "team" in shown["html"]
            changed = events_of(chat_list, "chat")
            assert changed["chat"] == CHAT and "Hello Maria" in changed["html"]
            eventually(lambda: len(config.sent) == 1, "WAHA sent it")
            update = shown  # it may have been sent before the feed's first look
            while 'class="send-state sent"' not in update["html"]:
                update = events_of(conversation, "message")
            assert update["row"] == shown["row"]  # the same message, now sent
            again = inbound_from(CHAT, 2, _data={"pushName": "Maria Souza"})
            assert post(api, delivery("message", again, "in-2")).status_code == 200
            assert "Maria Souza" in events_of(conversation, "message")["html"]
        assert http.get(f"/v1/channels/default/chats/{CHAT}/bot").json()["mode"] == "paused"
        [mine] = [m for m in http.get(path).json()["items"] if m["from_me"]]
        assert (mine["origin"], mine["send_state"], mine["id"]) == (
            "human",
            "sent",
            config.sent[0]["id"],
        )
        for n in (2, 3):  # two more: the third is over the rate of 2 a minute
            assert http.post(path, json={"text": f"message {n}"}).status_code == 202
        eventually(lambda: len(config.sent) == 2, "the second was sent")
        eventually(
            lambda: sorted(state for state, *_ in sends(database)) == ["pending", "sent", "sent"],
            "the third waits its turn",
        )
        bodies = [body["body"] for body in config.sent]
        assert bodies == ["Hello Maria, Ana from the shop", "message 2"]
        assert http.post(path, json={"text": ""}).status_code == 422
        unknown = "/v1/channels/default/chats/5511000000001@c.us/messages"
        assert http.post(unknown, json={"text": "hi"}).status_code == 404
        http.close()
        console.close()
    services.close()
