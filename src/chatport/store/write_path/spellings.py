"""One person, two spellings of their number: a Brazilian mobile with or without its 9th digit
(WhatsApp's ids of numbers older than the 9 lack it, people write it). Read and settled inside
the writing transaction, so the stored rows decide, whatever the order of the writes:

- people named by a number as someone wrote it (an export's authors and chat) meet the contact
  and chat the tenant already has under the other spelling (`stored_spellings`);
- WhatsApp's own id arriving later (an import, a webhook) takes over the contact and chat that
  only exports wrote under the other spelling (`adopt_whatsapp_ids`). Two spellings that
  WhatsApp itself gave stay two people: numbers are recycled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, exists, or_, select, update

from chatport.domain.batch import PreparedBatch
from chatport.domain.model import Channel, Origin
from chatport.domain.normalise import phone_of, phone_variants
from chatport.domain.spellings import USER_SUFFIX, other_spellings, respelled
from chatport.store.backends.bulk import BulkOps
from chatport.store.tables import chats, contacts, messages
from chatport.store.write_path.lid_chats import join_lid_chats


def stored_spellings(
    connection: Connection, channel: Channel, batch: PreparedBatch
) -> PreparedBatch:
    """`batch` with each phone id it names (1:1 chats and people) that the store does not
    hold, but holds under another spelling (a contact of the tenant, a chat of the channel),
    under that stored id. Two queries, only when the batch names such numbers."""
    spellings = other_spellings(batch)
    if not spellings:
        return batch
    names = sorted(set(spellings).union(*spellings.values()))
    stored = set(
        connection.execute(
            select(contacts.c.wa_id).where(
                contacts.c.tenant_id == channel.tenant_id, contacts.c.wa_id.in_(names)
            )
        ).scalars()
    )
    stored.update(
        connection.execute(
            select(chats.c.chat_id).where(
                chats.c.channel_id == channel.id, chats.c.chat_id.in_(names)
            )
        ).scalars()
    )
    moves = {}
    for jid, others in spellings.items():
        found = [other for other in others if other in stored]
        if jid not in stored and found:
            moves[jid] = found[0]
    return respelled(batch, moves)


def stored_chat(connection: Connection, channel: Channel, chat_id: str) -> str:
    """The id the channel stores the chat `chat_id` under: itself, else another spelling of
    its number (`chat_id` when the channel has neither)."""
    names = [chat_id, *(f"{v}{USER_SUFFIX}" for v in phone_variants(phone_of(chat_id) or ""))]
    if len(names) == 1:
        return chat_id
    query = select(chats.c.chat_id).where(
        chats.c.channel_id == channel.id, chats.c.chat_id.in_(names)
    )
    found = set(connection.execute(query).scalars())
    return next((name for name in names if name in found), chat_id)


def adopt_whatsapp_ids(
    connection: Connection, ops: BulkOps, channel: Channel, batch: PreparedBatch, now: datetime
) -> int:
    """Give each phone id of `batch` (WhatsApp's) that the tenant has no contact for, but has
    under another spelling that only exports wrote, that contact (renamed) and the channel's
    chat (renamed, or joined to the batch's: messages and sessions follow, `join_lid_chats`);
    return how many. One query when the batch names such numbers, none otherwise."""
    spellings = other_spellings(batch)
    if not spellings:
        return 0
    names = sorted(set(spellings).union(*spellings.values()))
    query = select(contacts.c.wa_id, contacts.c.id).where(
        contacts.c.tenant_id == channel.tenant_id, contacts.c.wa_id.in_(names)
    )
    stored = dict(connection.execute(query).all())
    adopted = 0
    for jid, others in spellings.items():
        other = next((name for name in others if name in stored), None)
        if jid in stored or other is None or not _only_exports(connection, channel, other, stored):
            continue
        connection.execute(
            update(contacts)
            .where(contacts.c.id == stored[other])
            .values(wa_id=jid, phone=phone_of(jid), updated_at=now)
        )
        join_lid_chats(connection, ops, channel, {other: jid}, now)
        adopted += 1
    return adopted


def _only_exports(
    connection: Connection, channel: Channel, wa_id: str, contact_ids: dict[str, int]
) -> bool:
    """Whether every message by `wa_id`'s contact, and in the channel's chat `wa_id`, came
    from an export file (then `wa_id` is a spelling people wrote, not WhatsApp's id)."""
    not_export = messages.c.origin != str(Origin.EXPORT)
    # two EXISTS, each an index scan that stops at its first row (an OR of both is a bitmap
    # scan of every match, or a table scan when the statistics are off)
    by_contact = exists().where(messages.c.contact_id == contact_ids[wa_id], not_export)
    in_chat = exists().where(
        messages.c.channel_id == channel.id, messages.c.chat_id == wa_id, not_export
    )
    return not connection.execute(select(or_(by_contact, in_chat))).scalar()
