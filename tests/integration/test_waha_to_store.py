"""Messages read from the simulator through the client land in the store exactly once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from chatport.domain.model import Origin
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.sources.waha.messages import to_incoming
from chatport.store.database import Database
from chatport.store.tables import contacts, messages


def test_every_message_once_and_one_contact_per_person(database: Database) -> None:
    world = World(chats=30, messages=1_500, seed=5)
    with simulator_in_thread(SimulatorConfig(world)) as url:

        async def read():
            async with WahaClient(WahaSettings(url=url, page_size=50)) as client:
                lids = await client.lid_map()
                batch = []
                async for chat in client.chats():
                    async for page in client.messages(chat.id):
                        batch += [
                            to_incoming(m.data, m.raw, chat.id, lids, chat.name) for m in page
                        ]
                return batch

        incoming = asyncio.run(read())
    channel = database.channel()
    first = database.write_batch(channel, incoming, origin=Origin.IMPORT)
    again = database.write_batch(channel, incoming, origin=Origin.IMPORT)
    displayable = sum(1 for c in world.chats for r in world.messages(c) if not r.hidden)
    assert (first.created, first.invalid, again.duplicates) == (displayable, 0, displayable)
    with database.engine.connect() as connection:
        wa_ids = connection.execute(select(contacts.c.wa_id)).scalars().all()
        lid_chats = connection.execute(
            select(func.count()).select_from(messages).where(messages.c.chat_id.like("%@lid"))
        ).scalar_one()
    assert not any(wa_id.endswith("@lid") for wa_id in wa_ids)  # every LID resolved to a phone
    assert lid_chats == 0
    assert len(wa_ids) == len(set(wa_ids))
