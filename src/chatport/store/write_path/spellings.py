"""People named by a phone number as someone wrote it (an export's authors and chat) meet the
contact the tenant already has under another spelling of that number: a Brazilian mobile
with or without its 9th digit (WhatsApp's ids of numbers older than the 9 lack it, people
write it). Read inside the writing transaction, so the stored rows decide, not a cache."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatport.domain.batch import PreparedBatch
from chatport.domain.model import Channel
from chatport.domain.normalise import phone_of, phone_variants
from chatport.domain.spellings import USER_SUFFIX, other_spellings, respelled
from chatport.store.tables import chats, contacts


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
