"""`POST /webhooks/waha` over real HTTP (uvicorn on loopback), on both back ends."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import func, select, update

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.sources.waha.webhooks import sign
from chatport.store.tables import (
    channels,
    chats,
    dead_letters,
    events,
    messages,
    sessions,
    webhook_receipts,
)
from chatport.store.webhook_receipts import record_receipts
from tests.integration.conftest import WEBHOOK_KEY as KEY  # noqa: E402
from tests.servers import serve_app
from tests.waiting import PATIENCE


def delivery(event: str, payload: dict, envelope_id: str, session: str = "default") -> bytes:
    return orjson.dumps(
        {
            "id": envelope_id,
            "timestamp": 1741249702485,
            "event": event,
            "session": session,
            "me": {"id": "5511888880000@c.us", "pushName": "Shop"},
            "engine": "NOWEB",
            "environment": {"version": "2026.7.1", "engine": "NOWEB"},
            "payload": payload,
        }
    )


def inbound(n: int, sender: int = 1, minute: int = 0) -> dict:
    chat = f"55119999900{sender:02d}@c.us"
    return {
        "id": f"false_{chat}_M{n:06d}",
        "timestamp": 1741249700 + minute * 60 + n,
        "from": chat,
        "to": "5511888880000@c.us",
        "fromMe": False,
        "body": f"message {n}",
        "_data": {"pushName": f"Person {sender}"},
    }


def post(url: str, body: bytes, key: str | None = KEY, **params) -> httpx.Response:
    signed = sign(body, key) if key else {}
    headers = {"content-type": "application/json", **signed}
    return httpx.post(
        f"{url}/webhooks/waha", content=body, headers=headers, params=params, timeout=PATIENCE
    )


def count(services, table, *where) -> int:
    with services.database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_a_signed_message_is_stored_once_whatever_the_retries(webhook_api):
    url, services = webhook_api
    payload = inbound(1)
    first = post(url, delivery("message", payload, "evt_1"))
    assert first.status_code == 200 and first.json() == {"outcome": "stored"}
    again = post(url, delivery("message", payload, "evt_1"))  # WAHA's retry
    assert again.json() == {"outcome": "duplicate"}
    any_copy = post(url, delivery("message.any", payload, "evt_2"))  # the same message, twice
    assert any_copy.json() == {"outcome": "stored"}
    assert count(services, messages) == 1 and count(services, sessions) == 1
    assert count(services, events, events.c.type == "message.received") == 1
    with services.database.engine.connect() as connection:
        unread, last = connection.execute(
            select(chats.c.unread_count, chats.c.last_message_text)
        ).one()
        origin = connection.execute(select(messages.c.origin)).scalar()
    assert (unread, last, origin) == (1, "message 1", "live")


def test_v2_signatures_are_accepted_and_wrong_ones_refused_without_a_trace(webhook_api):
    url, services = webhook_api
    body = delivery("message", inbound(1), "evt_1")
    v2 = sign(body, KEY, "1741249702485") | {"content-type": "application/json"}
    answer = httpx.post(f"{url}/webhooks/waha", content=body, headers=v2, timeout=PATIENCE)
    assert answer.status_code == 200
    body = delivery("message", inbound(2), "evt_2")
    assert post(url, body, key="wrong").status_code == 401
    assert post(url, body, key=None).status_code == 401
    tampered = sign(body, KEY) | {"content-type": "application/json"}
    response = httpx.post(
        f"{url}/webhooks/waha", content=body + b" ", headers=tampered, timeout=PATIENCE
    )
    assert response.status_code == 401 and "signature" in response.json()["detail"]
    assert count(services, messages) == 1 and count(services, dead_letters) == 0


def test_malformed_and_unroutable_deliveries_are_refused_and_kept(webhook_api):
    url, services = webhook_api
    bad = post(url, b'{"id": "evt_1", "event": "message"')
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["detail"]
    no_payload = post(url, orjson.dumps({"id": "evt_2", "event": "message", "session": "x"}))
    assert no_payload.status_code == 422 and "payload" in no_payload.json()["detail"]
    unknown = post(url, delivery("message", inbound(1), "evt_3", session="nobody"))
    assert unknown.status_code == 404 and "'nobody'" in unknown.json()["detail"]
    chatless = post(url, delivery("message", {"id": "m", "fromMe": False}, "evt_4"))
    assert chatless.status_code == 422 and "without a chat" in chatless.json()["detail"]
    undated = post(url, delivery("message", {**inbound(5), "timestamp": None}, "evt_5"))
    assert undated.status_code == 422
    assert count(services, dead_letters) == 5 and count(services, messages) == 0
    with services.database.engine.connect() as connection:
        kept = connection.execute(select(dead_letters.c.payload).order_by(dead_letters.c.id))
        assert next(iter(kept)).payload == '{"id": "evt_1", "event": "message"'


def test_status_other_events_and_a_channel_named_explicitly(webhook_api):
    url, services = webhook_api
    status = post(url, delivery("session.status", {"name": "default", "status": "WORKING"}, "e1"))
    assert status.json() == {"outcome": "stored"}
    ignored = post(url, delivery("presence.update", {"id": "x", "presences": []}, "e2"))
    assert ignored.status_code == 200 and ignored.json() == {"outcome": "ignored"}
    named = post(url, delivery("message", inbound(1), "e3", session="other"), channel="default")
    assert named.json() == {"outcome": "stored"}
    with services.database.engine.connect() as connection:
        row = connection.execute(select(channels.c.status, channels.c.me_id)).one()
    assert tuple(row) == ("WORKING", "5511888880000@c.us")
    assert count(services, messages) == 1


def test_a_channel_key_takes_precedence_over_the_global_one(webhook_api):
    url, services = webhook_api
    with services.database.engine.begin() as connection:
        connection.execute(update(channels).values(webhook_hmac_key="channel-key"))
    signed_by_channel = post(url, delivery("message", inbound(1), "e1"), key="channel-key")
    assert signed_by_channel.status_code == 200
    assert post(url, delivery("message", inbound(2), "e2")).status_code == 401


def test_concurrent_deliveries_with_retries_in_random_order_are_exact(webhook_api):
    url, services = webhook_api
    payloads = [inbound(n, sender=n % 7, minute=n // 7 * 45) for n in range(300)]
    bodies = [delivery("message", p, f"evt_{i}") for i, p in enumerate(payloads)]
    retries = random.Random(5).sample(bodies, 60)
    copies = [delivery("message.any", p, f"evt_any_{i}") for i, p in enumerate(payloads[:40])]
    work = bodies + retries + copies
    random.Random(6).shuffle(work)

    async def send_all() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            limit = asyncio.Semaphore(32)

            async def one(body: bytes) -> int:
                async with limit:
                    headers = sign(body, KEY) | {"content-type": "application/json"}
                    response = await client.post("/webhooks/waha", content=body, headers=headers)
                    return response.status_code

            return await asyncio.gather(*(one(body) for body in work))

    assert set(asyncio.run(send_all())) == {200}
    assert count(services, messages) == 300
    assert count(services, events, events.c.type == "message.received") == 300
    # one session per sender and 45-minute block (gaps of 45 min > the 30-minute timeout)
    expected = len({(n % 7, n // 7) for n in range(300)})
    assert count(services, sessions) == expected


def message_row(services, external_id: str):
    with services.database.engine.connect() as connection:
        return connection.execute(
            select(
                messages.c.text,
                messages.c.ack,
                messages.c.revoked_at,
                messages.c.edited_at,
                messages.c.edits,
            ).where(messages.c.external_id == external_id)
        ).one()


def test_acks_revokes_and_edits_change_the_stored_message_and_keep_the_original(webhook_api):
    url, services = webhook_api
    own = {
        **inbound(1),
        "id": "true_5511999990001@c.us_3EB0AAA",
        "fromMe": True,
        "from": "5511888880000@c.us",
        "to": "5511999990001@c.us",
        "body": "first text",
    }
    ack = {"id": own["id"], "from": own["to"], "to": own["from"], "fromMe": True, "ack": 3}
    early = post(url, delivery("message.ack", ack, "a1"))  # before its message: WAHA retries
    assert early.status_code == 409 and "no stored message" in early.json()["detail"]
    assert post(url, delivery("message.any", own, "m1")).status_code == 200
    assert post(url, delivery("message.ack", ack, "a1")).json() == {"outcome": "stored"}
    older = post(url, delivery("message.ack", {**ack, "ack": 2}, "a2"))  # late, lower ack
    assert older.status_code == 200 and message_row(services, own["id"]).ack == 3

    edit = {
        **own,
        "id": "true_5511999990001@c.us_3EB0BBB",
        "body": "second text",
        "editedMessageId": "3EB0AAA",
        "timestamp": own["timestamp"] + 60,
    }
    assert post(url, delivery("message.edited", edit, "e1")).json() == {"outcome": "stored"}
    assert post(url, delivery("message.edited", edit, "e2")).status_code == 200  # same text
    row = message_row(services, own["id"])
    assert row.text == "second text" and row.edited_at is not None
    assert [each["text"] for each in row.edits] == ["first text"]
    with services.database.engine.connect() as connection:
        assert connection.execute(select(chats.c.last_message_text)).scalar() == "second text"

    revoke = {
        "after": {**own, "id": "true_5511999990001@c.us_3EB0CCC", "body": ""},
        "before": None,
        "revokedMessageId": "3EB0AAA",
    }
    assert post(url, delivery("message.revoked", revoke, "r1")).json() == {"outcome": "stored"}
    row = message_row(services, own["id"])
    assert row.revoked_at is not None and row.text == "second text"  # the original is kept
    unknown = {**revoke, "revokedMessageId": "NOPE"}
    assert post(url, delivery("message.revoked", unknown, "r2")).status_code == 409
    assert count(services, messages) == 1


def test_a_payload_of_an_unexpected_shape_is_refused_and_kept_not_a_500(webhook_api):
    url, services = webhook_api
    odd = {**inbound(1), "_data": ["not", "an", "object"], "participant": 5}
    answer = post(url, delivery("message", odd, "odd"))
    assert answer.status_code == 422 and "payload" in answer.json()["detail"]
    assert count(services, dead_letters) == 1 and count(services, messages) == 0


def test_unknown_sessions_create_channels_when_configured_and_me_id_tells_twins_apart(
    database_url,
):
    services = build(
        Settings(database_url=database_url, webhook_hmac_key=KEY, webhook_create_channels=True)
    )
    try:
        with services.database.unit_of_work() as uow:  # two numbers behind sessions "twin"
            for name, me in (("twin-a", "5511000000001@c.us"), ("twin-b", "5511000000002@c.us")):
                created = uow.create_channel(name, waha_session="twin")
                uow.connection.execute(
                    update(channels).where(channels.c.id == created.id).values(me_id=me)
                )
            uow.commit()
        with serve_app(services) as url:
            fresh = post(url, delivery("message", inbound(1), "e1", session="brand-new"))
            assert fresh.json() == {"outcome": "stored"}
            body = orjson.loads(delivery("message", inbound(2), "e2", session="twin"))
            body["me"] = {"id": "5511000000002@c.us"}
            assert post(url, orjson.dumps(body)).json() == {"outcome": "stored"}
            body["me"] = None  # two channels answer to "twin": without me.id, refused
            body["id"] = "e3"
            assert post(url, orjson.dumps(body)).status_code == 404
        with services.database.engine.connect() as connection:
            placed = connection.execute(
                select(channels.c.name, func.count(messages.c.id))
                .join(messages, messages.c.channel_id == channels.c.id)
                .group_by(channels.c.name)
                .order_by(channels.c.name)
            ).all()
        assert [tuple(row) for row in placed] == [("brand-new", 1), ("twin-b", 1)]
    finally:
        services.close()


def test_receipts_older_than_the_retention_are_pruned_as_deliveries_go_on(webhook_api):
    url, services = webhook_api
    database = services.database
    channel_id = database.channel().id
    expired = datetime.now(UTC) - timedelta(hours=49)  # kept: 48 h by default
    with database.unit_of_work() as uow:
        old = [(f"old_{n}", "message") for n in range(2_500)]  # more than one pruning slice
        record_receipts(uow.connection, database.ops, channel_id, old, expired)
        recent = datetime.now(UTC) - timedelta(hours=47)
        record_receipts(uow.connection, database.ops, channel_id, [("recent", "message")], recent)
        uow.commit()
    for n in range(4):
        assert post(url, delivery("message", inbound(n), f"evt_{n}")).status_code == 200
    with database.engine.connect() as connection:
        kept = set(connection.execute(select(webhook_receipts.c.envelope_id)).scalars())
    assert kept == {"recent", "evt_0", "evt_1", "evt_2", "evt_3"}


def test_a_live_one_to_one_chat_takes_the_persons_push_name(webhook_api):
    url, services = webhook_api
    assert post(url, delivery("message", inbound(1, sender=7), "evt_name")).status_code == 200
    with services.database.engine.connect() as connection:
        assert connection.execute(select(chats.c.name)).scalars().all() == ["Person 7"]
