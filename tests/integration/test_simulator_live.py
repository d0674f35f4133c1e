"""The simulator's live mode: new messages show in WAHA's API and arrive as signed webhooks;
dropped webhooks and a dropped session lose them (as an outage does), and the session's
status changes arrive as `session.status` webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatport.simulator.live import LiveSettings, LiveTraffic
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.webhooks import signature_valid
from tests.servers import serve_asgi
from tests.waiting import eventually

KEY = "sim-key"
WORLD = World(chats=40, messages=1_000, seed=12)


class Receiver:
    """A webhook endpoint that keeps what it gets (and whether it was signed right)."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.lock = threading.Lock()

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        assert signature_valid(body, request.headers, KEY)
        with self.lock:
            self.got.append(orjson.loads(body))
        return Response("{}", media_type="application/json")

    def events(self, name: str) -> list[dict]:
        with self.lock:
            return [item for item in self.got if item["event"] == name]


@pytest.fixture
def live() -> Iterator[tuple[httpx.Client, Receiver, LiveTraffic]]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.receive, methods=["POST"])])
    with serve_asgi(app) as hooks:
        traffic = LiveTraffic(WORLD, LiveSettings(webhook_url=f"{hooks}/hook", hmac_key=KEY))
        config = SimulatorConfig(WORLD, live=traffic)
        with simulator_in_thread(config) as url:
            yield httpx.Client(base_url=url, timeout=60), receiver, traffic


def delivered(traffic: LiveTraffic) -> bool:
    return traffic.pending == 0


def test_new_messages_show_in_the_api_and_arrive_as_signed_webhooks(live) -> None:
    waha, receiver, traffic = live
    created = waha.post("/simulator/live/messages", params={"count": 60}).json()["created"]
    assert created and len(created) == len(traffic.created)
    eventually(lambda: delivered(traffic), "the webhooks are delivered")
    got = [item["payload"]["id"] for item in receiver.events("message.any")]
    assert sorted(got) == sorted(created) and traffic.lost == []
    assert {item["session"] for item in receiver.events("message.any")} == {"default"}
    kinds = {message_id.split("_")[1].rsplit("@", 1)[1] for message_id in created}
    assert kinds == {"c.us", "lid", "g.us"}  # 1:1, @lid and group traffic
    newest = created[-1]
    chat_id = newest.split("_")[1]
    overview = waha.get("/api/default/chats/overview", params={"limit": 1}).json()
    assert overview[0]["id"] == chat_id
    page = waha.get(f"/api/default/chats/{chat_id}/messages", params={"limit": 5}).json()
    assert newest in [message["id"] for message in page]
    state = waha.get("/simulator/live").json()
    assert state["created"] == len(created) and state["delivered"] == len(created)


def test_dropped_webhooks_and_a_dropped_session_lose_what_happened(live) -> None:
    waha, receiver, traffic = live
    waha.post("/simulator/live/webhooks/drop")
    dropped = waha.post("/simulator/live/messages", params={"count": 10}).json()["created"]
    waha.post("/simulator/live/webhooks/restore")
    assert traffic.lost == dropped
    waha.post("/simulator/live/session/drop")
    assert waha.get("/api/default/chats/overview").status_code == 422
    offline = waha.post("/simulator/live/messages", params={"count": 10}).json()["created"]
    waha.post("/simulator/live/session/restore")
    eventually(lambda: delivered(traffic), "the status webhooks are delivered")
    statuses = [item["payload"]["status"] for item in receiver.events("session.status")]
    assert statuses == ["STARTING", "WORKING"]
    assert traffic.lost == dropped + offline and receiver.events("message.any") == []
    chat_id = offline[-1].split("_")[1]
    page = waha.get(f"/api/default/chats/{chat_id}/messages", params={"limit": 50}).json()
    assert offline[-1] in [message["id"] for message in page]  # visible once it works again
