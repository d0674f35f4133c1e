"""One row per message whatever the alias (design 2.4): the same message seen through Baileys
and through WAHA in a `@lid` chat, in either order, with the LID's phone learned before, with
either source or after both, ends as ONE row of the phone chat, with exact counters, sessions
that follow the rule and the source's id kept verbatim (both back ends)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from chatport.domain.changes import MessageChange
from chatport.domain.model import BatchResult, Origin
from chatport.ingest.baileys import import_text
from chatport.sources.waha.messages import decode_message, to_incoming
from chatport.store.channels import sessions_follow_the_rule
from chatport.store.tables import chats, contacts, events, messages, sessions
from chatport.store.write_path.changes import apply_change
from chatport.store.write_path.lids import remember_lids

LID, PHONE = "9000000003@lid", "5511900000003@c.us"
GROUP = "120363000000000077@g.us"
T0 = 1_741_249_700


def wa(n: int) -> str:
    return f"3EB0C0FFEE{n:010d}28"


def waha(n: int, chat: str = LID, *, twin: bool = False, **extra: Any) -> dict:
    """A WAHA (NOWEB) message of chat `chat` as WAHA names it: `{fromMe}_{chat}_{id}`."""
    payload = {
        "id": f"false_{chat}_{wa(n)}",
        "timestamp": T0 + 60 * n,
        "from": chat,
        "fromMe": False,
        "body": f"m{n}",
        **extra,
    }
    if twin:
        payload["_data"] = {"key": {"remoteJidAlt": PHONE.replace("@c.us", "@s.whatsapp.net")}}
    return payload


def write_waha(database, payloads: list[dict], lids: dict | None = None) -> BatchResult:
    """As the live writer does: mapped by the WAHA source with its cache of pairs (`lids`)."""
    incoming = []
    for payload in payloads:
        raw = orjson.dumps(payload)
        chat = payload["to"] if payload["fromMe"] else payload["from"]
        incoming.append(to_incoming(decode_message(raw), raw, chat, lids or {}))
    return database.write_batch(database.channel(), incoming, origin=Origin.LIVE)


def baileys(ns: list[int], remote: str = LID, *, mapping: bool = False, **key: Any) -> str:
    items = [
        {
            "key": {"remoteJid": remote, "fromMe": False, "id": wa(n), **key},
            "message": {"conversation": f"m{n}"},
            "messageTimestamp": T0 + 60 * n,
            "pushName": "Ana",
        }
        for n in ns
    ]
    payload: dict = {"messages": items}
    if mapping:
        payload["lidPnMappings"] = [{"lid": LID, "pn": PHONE.replace("@c.us", "@s.whatsapp.net")}]
    return orjson.dumps(payload).decode()


def learn(database) -> None:
    channel = database.channel()
    with database.unit_of_work() as uow:
        remember_lids(uow.connection, database.ops, channel, {LID: PHONE})
        uow.commit()


def rows(database, *columns) -> list[tuple]:
    with database.engine.connect() as connection:
        query = select(*columns).order_by(*columns)
        return [tuple(row) for row in connection.execute(query)]


def assert_one_row_per_message(database, count: int) -> None:
    channel = database.channel()
    assert rows(database, messages.c.chat_id, messages.c.text) == [
        (PHONE, f"m{n}") for n in range(1, count + 1)
    ]
    assert rows(database, chats.c.chat_id) == [(PHONE,)]
    stored = rows(database, messages.c.message_key)
    assert stored == [(f"false_{PHONE}_{wa(n)}",) for n in range(1, count + 1)]
    assert rows(database, contacts.c.wa_id) == [(PHONE,)]
    assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)
    with database.engine.connect() as connection:
        counted = connection.execute(
            select(sessions.c.message_count, sessions.c.started_at, sessions.c.last_activity_at)
        ).all()
        chat = connection.execute(select(chats.c.last_message_id)).scalar_one()
        last = connection.execute(
            select(messages.c.external_id).order_by(messages.c.sent_at.desc()).limit(1)
        ).scalar_one()
    assert [tuple(row)[0] for row in counted] == [count]  # one session, its count exact
    assert counted[0][2] - counted[0][1] == timedelta(minutes=count - 1)
    assert chat == last


# The mapping is learned: before both, with the Baileys payload (lidPnMappings), with the
# WAHA payload (its NOWEB twin, `remoteJidAlt`), or after both were stored.
WHEN = ["before", "with_baileys", "with_waha", "after"]


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("first", ["baileys", "waha"])
def test_baileys_and_waha_of_a_lid_chat_converge_to_one_row(database, first, when) -> None:
    """Baileys holds messages 1 and 2, WAHA 2 and 3: three rows, whatever happens."""
    if when == "before":
        learn(database)
    # Baileys names the chat by its LID, or (learned after both) by the phone: its rows are
    # then in the phone chat while WAHA's are in the LID chat, until the pair is known
    remote = PHONE.replace("@c.us", "@s.whatsapp.net") if when == "after" else LID
    file = baileys([1, 2], remote, mapping=when == "with_baileys")
    results: dict[str, BatchResult] = {}
    for source in (first, "waha" if first == "baileys" else "baileys"):
        if source == "baileys":
            results[source] = import_text(database, database.channel(), file).result
        else:
            payloads = [waha(n, twin=when == "with_waha") for n in (2, 3)]
            results[source] = write_waha(database, payloads)
    if when == "after":
        learn(database)
    assert_one_row_per_message(database, 3)
    second = results["waha" if first == "baileys" else "baileys"]
    if when != "after":  # the duplicate is known as one when written: counted as one
        assert (second.created, second.duplicates) == (1, 1)
    else:  # two chats until the pair is known; then the chats join, the two rows one
        with database.engine.connect() as connection:
            merged = connection.execute(
                select(events.c.payload).where(events.c.type == "chat.merged")
            ).scalar_one()
        assert merged["duplicates"] == 1


def test_the_older_row_stays_with_the_states_of_both(database) -> None:
    """Stored twice before the pair was known (WAHA first, acked and edited; Baileys then):
    the WAHA row stays, keeps its id verbatim, and nothing either said is lost."""
    write_waha(database, [waha(1)])
    channel = database.channel()
    with database.unit_of_work() as uow:
        found = apply_change(
            uow.connection, channel.id, MessageChange("ack", None, f"false_{LID}_{wa(1)}", ack=3)
        )
        uow.commit()
    assert found
    import_text(database, channel, baileys([1], PHONE.replace("@c.us", "@s.whatsapp.net")))
    with database.unit_of_work() as uow:  # the Baileys row is revoked, the WAHA row acked
        change = MessageChange("revoked", PHONE, wa_id=wa(1), at=T0 + 600)
        assert apply_change(uow.connection, channel.id, change)
        uow.commit()
    learn(database)
    stored = rows(database, messages.c.external_id, messages.c.chat_id, messages.c.ack)
    assert stored == [(f"false_{LID}_{wa(1)}", PHONE, 3)]
    with database.engine.connect() as connection:
        assert connection.execute(select(messages.c.revoked_at)).scalar_one() is not None
    assert_one_row_per_message(database, 1)


def test_a_change_names_the_message_by_any_alias(database) -> None:
    """Acks and edits find a message stored by Baileys under the phone chat from WAHA's LID
    id, and edit the one row."""
    import_text(database, database.channel(), baileys([1], mapping=True))
    channel = database.channel()
    with database.unit_of_work() as uow:
        ack = MessageChange("ack", None, message_id=f"false_{LID}_{wa(1)}", ack=4)
        edit = MessageChange("edited", LID, wa_id=wa(1), text="m1, fixed")
        assert apply_change(uow.connection, channel.id, ack)
        assert apply_change(uow.connection, channel.id, edit)
        uow.commit()
    stored = rows(database, messages.c.external_id, messages.c.ack, messages.c.text)
    assert stored == [(f"false_{PHONE}_{wa(1)}", 4, "m1, fixed")]


def test_an_ack_of_the_channels_own_message_in_a_lid_chat_finds_it(database) -> None:
    """A reply to a LID chat whose payload names the phone (`remoteJidAlt`) is stored in the
    phone chat; the pair is learned from it, so WAHA's acks (`true_{LID}_…`) find it."""
    reply = waha(1, twin=True, fromMe=True, to=LID)
    reply["id"] = f"true_{LID}_{wa(1)}"
    write_waha(database, [reply])
    channel = database.channel()
    with database.unit_of_work() as uow:
        ack = MessageChange("ack", None, message_id=reply["id"], ack=3)
        assert apply_change(uow.connection, channel.id, ack)
        uow.commit()
    stored = rows(database, messages.c.message_key, messages.c.ack)
    assert stored == [(f"true_{PHONE}_{wa(1)}", 3)]


def test_a_group_message_is_one_row_whatever_alias_names_its_author(database) -> None:
    """WAHA's group ids carry the participant (`…_{participant}`), here a LID; Baileys' the
    phone: one key, the participant being an alias like any other."""
    import_text(database, database.channel(), baileys([1], GROUP, participant=LID))
    in_group = waha(1, GROUP, participant=PHONE)
    in_group["id"] = f"false_{GROUP}_{wa(1)}_{PHONE}"
    result = write_waha(database, [in_group])
    assert (result.created, result.duplicates) == (0, 1)
    assert rows(database, messages.c.message_key) == [(f"false_{GROUP}_{wa(1)}",)]


def test_a_batch_holding_both_aliases_stores_one(database) -> None:
    learn(database)
    result = write_waha(database, [waha(1), waha(1, PHONE)])
    assert (result.created, result.duplicates) == (1, 1)
    assert_one_row_per_message(database, 1)


def test_a_webhook_and_a_sidecar_push_converge_over_http(webhook_api) -> None:
    """The issue's report: `false_9000000003@lid_3EB…28` (WAHA) and
    `false_5511900000003@c.us_3EB…28` (Baileys) of one message were two rows."""
    import httpx

    from chatport.sources.waha.webhooks import sign
    from tests.integration.conftest import WEBHOOK_KEY
    from tests.integration.test_webhooks_api import delivery, post

    url, services = webhook_api
    body = baileys([1, 2], mapping=True).encode()
    signed = sign(body, WEBHOOK_KEY) | {"Content-Type": "application/json"}
    pushed = httpx.post(f"{url}/webhooks/baileys/default", content=body, headers=signed)
    assert pushed.status_code == 200 and pushed.json()["created"] == 2
    for n in (2, 3):
        answer = post(url, delivery("message", waha(n), f"e{n}"))
        assert answer.status_code == 200
    assert_one_row_per_message(services.database, 3)
    with services.database.engine.connect() as connection:
        ids = connection.execute(select(func.count(messages.c.external_id.distinct()))).scalar()
    assert ids == 3


@pytest.mark.parametrize("mapping", [True, False])
@pytest.mark.parametrize("first", ["baileys", "waha"])
def test_a_waha_import_and_a_baileys_history_of_lid_chats_converge(
    database, first, mapping
) -> None:
    """The import path (fetch processes, the re-import filter, chunks): WAHA lists its `@lid`
    chats with their phone twins; Baileys' history of those chats names them by LID, with
    the pairs (`lidPnMappings`) or without (then WAHA's `/lids`, stored by its import, tell
    them). One row per message, the second source's counted as duplicates."""
    from chatport.simulator.runner import simulator_in_thread
    from chatport.simulator.server import SimulatorConfig
    from chatport.simulator.world import World
    from chatport.store.jobs import import_jobs as jobs
    from tests.integration.test_waha_import import new_job
    from tests.integration.test_waha_import import run as run_import

    world = World(chats=12, messages=900, seed=4)
    lid_chats = [chat for chat in world.chats if chat.phone_twin]
    assert lid_chats
    items = []
    for chat in lid_chats:
        for record in world.messages(chat):
            if not record.hidden:
                data = record.message["_data"]
                key = {k: v for k, v in data["key"].items() if k != "remoteJidAlt"}
                items.append(
                    {"key": key, "message": data["message"], "messageTimestamp": record.timestamp}
                )
    pairs = [{"lid": c.id, "pn": c.phone_twin} for c in lid_chats] if mapping else []
    history = orjson.dumps({"messages": items, "lidPnMappings": pairs}).decode()
    visible = sum(1 for c in world.chats for r in world.messages(c) if not r.hidden)
    with simulator_in_thread(SimulatorConfig(world=world)) as url:
        results = {}
        for source in (first, "waha" if first == "baileys" else "baileys"):
            if source == "baileys":
                results[source] = import_text(database, database.channel(), history).result
            else:
                job = new_job(database)
                assert run_import(database, url, job) == "completed"
    with database.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(messages)).scalar()
        chat_ids = set(connection.execute(select(chats.c.chat_id)).scalars())
    assert stored == visible
    assert not any(chat.endswith("@lid") for chat in chat_ids)
    if first == "waha":
        assert (results["baileys"].created, results["baileys"].duplicates) == (0, len(items))
    else:
        with database.engine.connect() as connection:
            counters = jobs.load_job(connection, job.id).counters
        assert (counters["created"], counters["duplicates"]) == (visible - len(items), len(items))
    channel = database.channel()
    assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)
