"""One person, one contact, live too: LIDs resolved by the stored mapping, LID contacts merged
into phone contacts once the mapping is known (both back ends, real HTTP)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import func, select

from chatport.domain.model import ContactRef, IncomingMessage, Origin
from chatport.engines.inprocess.runner import run_job
from chatport.ingest.waha.import_step import WahaImport
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.client import WahaSettings
from chatport.store.channels import remember_waha, sessions_follow_the_rule
from chatport.store.tables import chats, contacts, events, lid_mappings, messages, sessions
from chatport.store.write_path.lids import channel_lids, remember_lids
from tests.integration.test_waha_import import new_job
from tests.integration.test_webhooks_api import count, delivery, post
from tests.waiting import eventually

WORLD = World(chats=40, messages=2_000, seed=9)
LID, PHONE = "1111222233334444@lid", "5511977776666@c.us"


def inbound_from(chat: str, n: int, **extra) -> dict:
    return {
        "id": f"false_{chat}_L{n:04d}",
        "timestamp": 1741249700 + n,
        "from": chat,
        "to": "5511888880000@c.us",
        "fromMe": False,
        "body": f"hello {n}",
        **extra,
    }


def test_an_import_stores_the_sessions_lid_mapping(database) -> None:
    with simulator_in_thread(SimulatorConfig(world=WORLD)) as url:
        importer = WahaImport(
            database, database.channel(), new_job(database), WahaSettings(url=url)
        )
        assert run_job(importer) == "completed"
    with database.engine.connect() as connection:
        stored = channel_lids(connection, database.channel().id)
    assert stored and all(k.endswith("@lid") and v.endswith("@c.us") for k, v in stored.items())


def test_a_lid_webhook_uses_the_stored_mapping(webhook_api) -> None:
    url, services = webhook_api
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:
        remember_lids(uow.connection, database.ops, channel, {LID: PHONE})
        uow.commit()
    assert post(url, delivery("message", inbound_from(LID, 1), "e1")).status_code == 200
    with database.engine.connect() as connection:
        chat_id, author = connection.execute(
            select(messages.c.chat_id, contacts.c.wa_id).join(
                contacts, contacts.c.id == messages.c.contact_id
            )
        ).one()
    assert (chat_id, author) == (PHONE, PHONE)


def test_a_lid_contact_is_merged_into_the_phone_contact_once_the_mapping_is_known(
    webhook_api,
) -> None:
    url, services = webhook_api
    database = services.database
    # first seen only by its LID (no twin, no stored mapping)
    assert post(url, delivery("message", inbound_from(LID, 1), "e1")).status_code == 200
    with database.engine.connect() as connection:
        assert connection.execute(select(contacts.c.wa_id)).scalars().all() == [LID]
    # then, in a group, a payload names both: the person is one contact from now on
    group = "120363000000000001@g.us"
    in_group = inbound_from(
        group, 2, participant=LID, _data={"key": {"participantAlt": "5511977776666@s.whatsapp.net"}}
    )
    assert post(url, delivery("message", in_group, "e2")).status_code == 200
    with database.engine.connect() as connection:
        people = connection.execute(select(contacts.c.wa_id, contacts.c.lid)).all()
        authors = connection.execute(
            select(func.count(func.distinct(messages.c.contact_id)))
        ).scalar()
        mapped = connection.execute(select(lid_mappings.c.lid, lid_mappings.c.wa_id)).all()
    assert [tuple(p) for p in people] == [(PHONE, LID)] and authors == 1
    assert [tuple(m) for m in mapped] == [(LID, PHONE)]


def chat_rows(database) -> list[tuple]:
    with database.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(chats.c.chat_id, chats.c.unread_count, chats.c.last_message_id).order_by(
                    chats.c.chat_id
                )
            )
        ]


def chats_of(database, table) -> set[str]:
    with database.engine.connect() as connection:
        return set(connection.execute(select(table.c.chat_id)).scalars())


def test_a_lid_chat_is_renamed_to_the_phone_chat_once_the_mapping_is_known(webhook_api) -> None:
    url, services = webhook_api
    database = services.database
    channel = database.channel()
    for n in (1, 2):
        assert post(url, delivery("message", inbound_from(LID, n), f"e{n}")).status_code == 200
    assert chat_rows(database) == [(LID, 2, f"false_{LID}_L0002")]
    with database.unit_of_work() as uow:  # as an import's /lids read or a WAHA lookup does
        remember_lids(uow.connection, database.ops, channel, {LID: PHONE})
        uow.commit()
    assert chat_rows(database) == [(PHONE, 2, f"false_{LID}_L0002")]
    assert chats_of(database, messages) == chats_of(database, sessions) == {PHONE}
    assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)


def test_a_lid_chat_joins_the_phone_chat_and_sessions_follow_the_rule(webhook_api) -> None:
    url, services = webhook_api
    database = services.database
    channel = database.channel()
    minute = 60
    # the LID chat: a session at 0-1 min and one 5 hours later; the phone chat: 10 min, 7 h
    for n in (0, 1 * minute, 300 * minute):
        body = delivery("message", inbound_from(LID, n), f"lid{n}")
        assert post(url, body).status_code == 200
    for n in (10 * minute, 420 * minute):
        assert post(url, delivery("message", inbound_from(PHONE, n), f"pn{n}")).status_code == 200
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(sessions)).scalar() == 4
    # a payload naming both: the message lands in the phone chat, the LID chat joins it
    twin = {"_data": {"key": {"remoteJidAlt": "5511977776666@s.whatsapp.net"}}}
    body = delivery("message", inbound_from(LID, 421 * minute, **twin), "both")
    assert post(url, body).status_code == 200
    assert chat_rows(database) == [(PHONE, 6, f"false_{LID}_L{421 * minute:04d}")]
    assert chats_of(database, messages) == chats_of(database, sessions) == {PHONE}
    assert sessions_follow_the_rule(database.engine, channel.id, channel.session_timeout)
    with database.engine.connect() as connection:
        spans = connection.execute(
            select(sessions.c.message_count).order_by(sessions.c.started_at)
        ).scalars()
        joined = connection.execute(
            select(events.c.payload).where(events.c.type == "chat.merged")
        ).scalars()
        assert list(spans) == [3, 1, 2]
        assert [p["absorbed"] for p in joined] == [LID]


def test_an_unknown_lid_is_looked_up_in_waha_and_its_chat_joins_the_phone_chat(
    webhook_api,
) -> None:
    url, services = webhook_api
    database = services.database
    channel = database.channel()
    lid, phone = WORLD.lids[0]
    with simulator_in_thread(SimulatorConfig(world=WORLD, api_key="waha-key")) as waha_url:
        with database.unit_of_work() as uow:
            remember_waha(
                uow.connection,
                channel,
                waha_url,
                "default",
                "waha-key",
                trusted=True,
                secrets=database.secrets,
            )
            uow.commit()
        assert post(url, delivery("message", inbound_from(lid, 1), "e1")).status_code == 200
        eventually(lambda: chats_of(database, messages) == {phone}, "the LID was looked up")
    assert chats_of(database, messages) == chats_of(database, chats) == {phone}
    with database.engine.connect() as connection:
        people = connection.execute(select(contacts.c.wa_id, contacts.c.lid)).all()
    assert [tuple(p) for p in people] == [(phone, lid)]
    # from now on the writer resolves that LID itself: no second chat, no second contact
    assert post(url, delivery("message", inbound_from(lid, 2), "e2")).status_code == 200
    assert chats_of(database, messages) == {phone}
    assert count(services, messages, messages.c.chat_id == phone) == 2


def test_a_lid_webhook_written_after_the_pair_was_stored_elsewhere_is_merged(webhook_api) -> None:
    """The live writer's cache of the mapping was read before an import stored the pair: the
    write path still resolves the LID from the store, inside its transaction."""
    url, services = webhook_api
    database = services.database
    other = "9999888877776666@lid"
    assert post(url, delivery("message", inbound_from(other, 1), "e0")).status_code == 200
    channel = database.channel()
    with database.unit_of_work() as uow:  # an import's /lids read, after the cache was filled
        remember_lids(uow.connection, database.ops, channel, {LID: PHONE})
        uow.commit()
    assert post(url, delivery("message", inbound_from(LID, 2), "e1")).status_code == 200
    assert post(url, delivery("message", inbound_from(LID, 3), "e2")).status_code == 200
    with database.engine.connect() as connection:
        authors = connection.execute(
            select(contacts.c.wa_id)
            .join(messages, messages.c.contact_id == contacts.c.id)
            .where(messages.c.external_id.like(f"%{LID}%"))
            .distinct()
        ).scalars()
        assert list(authors) == [PHONE]
        chat_ids = connection.execute(select(chats.c.chat_id).order_by(chats.c.chat_id))
        assert LID not in chat_ids.scalars().all()
        assert count(services, sessions, sessions.c.chat_id == PHONE) == 1


def test_pairs_stored_while_lid_messages_are_written_end_merged_in_any_order(database) -> None:
    """Writers of the same LID race (a webhook's batch and an import's /lids read): whatever
    the interleaving, one contact and one chat per person."""
    channel = database.channel()
    people = [(f"77770000{n:04d}0000@lid", f"55119000{n:05d}@c.us") for n in range(12)]

    def write(lid: str, n: int) -> None:
        message = IncomingMessage(
            external_id=f"false_{lid}_R{n}",
            chat_id=lid,
            sent_at=datetime(2026, 12, 1, 12, 0, n, tzinfo=UTC),
            from_me=False,
            text="race",
            author=ContactRef(wa_id=lid),
        )
        database.write_batch(channel, [message], origin=Origin.LIVE)

    def learn(lid: str, phone: str) -> None:
        with database.unit_of_work() as uow:
            remember_lids(uow.connection, database.ops, channel, {lid: phone})
            uow.commit()

    with ThreadPoolExecutor(4) as pool:
        futures = []
        for lid, phone in people:
            futures += [pool.submit(write, lid, 1), pool.submit(learn, lid, phone)]
            futures += [pool.submit(write, lid, 2)]
        for future in futures:
            future.result()
    with database.engine.connect() as connection:
        wa_ids = set(connection.execute(select(contacts.c.wa_id)).scalars())
        chat_ids = set(connection.execute(select(chats.c.chat_id)).scalars())
        linked = connection.execute(
            select(messages.c.chat_id, contacts.c.wa_id).join(
                contacts, contacts.c.id == messages.c.contact_id
            )
        ).all()
    phones = {phone for _, phone in people}
    assert wa_ids == phones and chat_ids == phones
    assert all(chat == author for chat, author in linked) and len(linked) == 2 * len(people)


def test_a_contact_written_after_its_pair_was_learned_gets_its_lid(webhook_api) -> None:
    url, services = webhook_api
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:
        remember_lids(uow.connection, database.ops, channel, {LID: PHONE})
        uow.commit()
    assert post(url, delivery("message", inbound_from(PHONE, 1), "e1")).status_code == 200
    with database.engine.connect() as connection:
        people = connection.execute(select(contacts.c.wa_id, contacts.c.lid)).all()
    assert [tuple(p) for p in people] == [(PHONE, LID)]  # as if written before: one end state


def test_a_lid_message_delivered_again_after_the_merge_leaves_no_lid_chat(webhook_api) -> None:
    url, services = webhook_api
    database = services.database
    channel = database.channel()
    assert post(url, delivery("message", inbound_from(LID, 1), "e1")).status_code == 200
    with database.unit_of_work() as uow:  # learned elsewhere: the live path's cache is stale
        remember_lids(uow.connection, database.ops, channel, {LID: PHONE})
        uow.commit()
    assert post(url, delivery("message", inbound_from(LID, 1), "e2")).status_code == 200
    assert chats_of(database, chats) == chats_of(database, messages) == {PHONE}
