"""One person, one contact, live too: LIDs resolved by the stored mapping, LID contacts merged
into phone contacts once the mapping is known (both back ends, real HTTP)."""

from __future__ import annotations

from sqlalchemy import func, select

from chatport.ingest.waha_import import WahaImport, run_job
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha import WahaSettings
from chatport.store.lids import channel_lids, remember_lids
from chatport.store.tables import contacts, lid_mappings, messages
from tests.integration.test_waha_import import new_job
from tests.integration.test_webhooks_api import delivery, post

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
        remember_lids(uow.connection, database.ops, channel.id, channel.tenant_id, {LID: PHONE})
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
