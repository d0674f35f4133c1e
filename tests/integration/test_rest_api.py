"""The tenant-scoped REST API over real HTTP, on both back ends: keys, isolation, pages."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.sources.waha.webhooks import sign
from chatport.store import tenants
from tests.servers import serve_app
from tests.waiting import PATIENCE


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[str, dict[str, str], object]]:
    """The API, and a key for tenants `acme` and `globex` each."""
    services = build(Settings(database_url=database_url))
    keys = {}
    with services.database.unit_of_work() as uow:
        for name in ("acme", "globex"):
            tenant, _ = tenants.ensure_tenant(uow.connection, name)
            keys[name] = tenants.create_key(uow.connection, tenant, "test")
        uow.commit()
    with serve_app(services) as url:
        yield url, keys, services
    services.close()


def client(url: str, key: str | None) -> httpx.Client:
    headers = {"X-Api-Key": key} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=PATIENCE)


def deliver(url: str, tenant: str, n: int, chat: str = "5511999990001@c.us", minute: int = 0):
    payload = {
        "id": f"false_{chat}_M{n:05d}",
        "timestamp": 1741249700 + minute * 60 + n,
        "from": chat,
        "fromMe": False,
        "body": f"message {n}",
    }
    body = orjson.dumps(
        {
            "id": f"evt_{tenant}_{chat}_{n}",
            "event": "message",
            "session": "shop",
            "payload": payload,
        }
    )
    headers = sign(body, f"{tenant}-hook") | {"content-type": "application/json"}
    response = httpx.post(
        f"{url}/webhooks/waha",
        content=body,
        headers=headers,
        params={"channel": "shop", "tenant": tenant},
        timeout=PATIENCE,
    )
    assert response.status_code == 200, response.text


def test_every_route_needs_a_valid_key_and_revoked_keys_stop_working(api):
    url, keys, services = api
    assert client(url, None).get("/v1/channels").status_code == 401
    assert client(url, "cp_not-a-key").get("/v1/channels").status_code == 401
    assert client(url, keys["acme"]).get("/v1/channels").json()["items"] == []
    with services.database.unit_of_work() as uow:
        tenants.revoke_key(uow.connection, keys["globex"][:10])
        uow.commit()
    assert client(url, keys["globex"]).get("/v1/channels").status_code == 401


def test_a_tenant_sees_only_its_own_channels_chats_messages_and_events(api):
    url, keys, _ = api
    acme, globex = client(url, keys["acme"]), client(url, keys["globex"])
    for tenant, http in (("acme", acme), ("globex", globex)):
        created = http.post(
            "/v1/channels", json={"name": "shop", "webhook_hmac_key": f"{tenant}-hook"}
        )
        assert created.status_code == 201 and created.json()["webhook_signed"] is True
    assert acme.post("/v1/channels", json={"name": "shop"}).status_code == 409
    assert acme.post("/v1/channels", json={"name": "no spaces"}).status_code == 422
    assert acme.post("/v1/channels", json={"name": "only-acme"}).status_code == 201
    for n in range(3):
        deliver(url, "acme", n)
    chat = "5511999990001@c.us"
    chats = acme.get("/v1/channels/shop/chats").json()["items"]
    assert [(c["chat_id"], c["unread_count"]) for c in chats] == [(chat, 3)]
    assert globex.get("/v1/channels/shop/chats").json()["items"] == []
    # another tenant's channel, chat or message answers as if it did not exist
    assert globex.get("/v1/channels/only-acme").status_code == 404
    assert globex.get("/v1/channels/only-acme/chats").status_code == 404
    assert globex.get(f"/v1/channels/shop/chats/{chat}/messages").status_code == 404
    assert globex.get(f"/v1/channels/shop/chats/{chat}/sessions").status_code == 404
    assert globex.post(f"/v1/channels/shop/chats/{chat}/read").status_code == 404
    assert globex.get("/v1/events").json()["items"] == []
    assert globex.get("/v1/contacts").json()["items"] == []
    types = [e["type"] for e in acme.get("/v1/events").json()["items"]]
    assert types == ["session.opened", *["message.received"] * 3]
    assert [c["wa_id"] for c in acme.get("/v1/contacts").json()["items"]] == [chat]
    assert acme.post(f"/v1/channels/shop/chats/{chat}/read").json()["unread_count"] == 0
    assert acme.get("/v1/channels/shop/chats", params={"unread": True}).json()["items"] == []


def test_messages_sessions_and_events_page_through_everything_once(api):
    url, keys, _ = api
    acme = client(url, keys["acme"])
    acme.post("/v1/channels", json={"name": "shop", "webhook_hmac_key": "acme-hook"})
    chat = "5511999990001@c.us"
    for n in range(25):
        deliver(url, "acme", n, chat, minute=(n // 10) * 90)  # three sessions 90 min apart
    seen, cursor = [], None
    while True:
        page = acme.get(
            f"/v1/channels/shop/chats/{chat}/messages", params={"limit": 10, "cursor": cursor}
        ).json()
        assert "items" in page, page
        seen += [m["id"] for m in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [f"false_{chat}_M{n:05d}" for n in reversed(range(25))]
    sessions = acme.get(f"/v1/channels/shop/chats/{chat}/sessions").json()["items"]
    assert [s["message_count"] for s in sessions] == [10, 10, 5]
    first = acme.get(f"/v1/channels/shop/chats/{chat}/sessions", params={"limit": 2}).json()
    assert [s["id"] for s in first["items"]] == [s["id"] for s in sessions[:2]]
    rest = acme.get(
        f"/v1/channels/shop/chats/{chat}/sessions", params={"cursor": first["next_cursor"]}
    ).json()
    assert [s["id"] for s in rest["items"]] == [sessions[2]["id"]] and not rest["next_cursor"]
    events, cursor = [], None
    while True:
        page = acme.get("/v1/events", params={"limit": 7, "cursor": cursor}).json()
        if not page["items"]:
            break
        events += page["items"]
        cursor = page["next_cursor"]
    assert [e["type"] for e in events].count("message.received") == 25
    assert acme.get("/v1/events", params={"cursor": cursor}).json()["next_cursor"] == cursor
    assert acme.get("/v1/events", params={"cursor": "x"}).status_code == 400
    for odd in ("²", "٣", "1" * 20):  # str.isdigit() is true for the first two (schemathesis)
        assert acme.get("/v1/contacts", params={"cursor": odd}).status_code == 400
    bad = acme.get(f"/v1/channels/shop/chats/{chat}/messages", params={"cursor": "bad"})
    assert bad.status_code == 400
