"""The write path's duplicate check, by message key (`domain.keys`).

A batch's keys are the sources' (`Message.key`, under the chat each source named). Inside the
transaction, under the LIDs' locks, they become canonical: a message of a LID chat whose phone
is known (stored, or named by the batch) takes the phone chat's key. A pair the batch is the
first to name (a LID whose chat may still be stored under it) gives the messages of its phone
chat an alias: the key under the LID, looked up too, so that a message stored under the LID is
a duplicate now, not a row merged away when the chats join. The lookups are one statement for
the batch, as before: by key (a few hundred messages, or every id when exact), else by the
batch's chats and time span.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from sqlalchemy import Connection, Select, bindparam, select

from chatport.domain.keys import message_key, rekey, waha_id_parts
from chatport.domain.model import Message
from chatport.domain.normalise import InvalidValue, normalise_jid
from chatport.store.backends.bulk import BulkOps, Match
from chatport.store.tables import lid_mappings, messages

PROBE_EACH_ID = 256
"""Up to this many messages the duplicate check probes each key instead of reading the keys
stored in the batch's chats and time span: a live group's span can cover weeks of stored
messages (one late delivery is enough), which the range read would all fetch."""


@dataclass(slots=True)
class KeyedMessages:
    """A batch's messages with canonical keys, and what the duplicate check must also see."""

    messages: list[Message]
    duplicates: int = 0
    """Messages that turned out to be another's of the batch once keyed canonically."""
    aliases: dict[str, str] = field(default_factory=dict)
    """key -> the same message's key under a LID the batch is the first to pair."""
    chats: set[str] = field(default_factory=set)
    """Chats beyond the messages' own where their stored twins may be (phone and LID)."""

    def unsure(self) -> list[Message]:
        """The messages whose stored twin may be under another chat than their own."""
        chats = self.chats
        return [m for m in self.messages if m.key in self.aliases or m.chat_id in chats]


def canonical_keys(
    batch: list[Message],
    chat_ids: Collection[str],
    phones: Mapping[str, str],
    fresh: Mapping[str, str],
) -> KeyedMessages:
    """Key `batch` (of the chats `chat_ids`) in the phone chats: `phones` are the known
    `@lid` -> phone pairs (stored or named by the batch), `fresh` those the store may not
    have merged yet (see the module). When neither names a chat of the batch, the batch is
    returned as it is."""
    phones = {chat: phones[chat] for chat in chat_ids if chat in phones}
    lids_of = {phone: lid for lid, phone in fresh.items() if phone in chat_ids or lid in chat_ids}
    if not phones and not lids_of:
        return KeyedMessages(batch)
    keyed = KeyedMessages([], chats=set(phones) | set(phones.values()))
    seen: set[str] = set()
    for message in batch:
        chat_id = message.chat_id
        phone = phones.get(chat_id)
        if phone is not None:
            key = rekey(message.key, chat_id, phone)
            if key != message.key:
                message = msgspec.structs.replace(message, key=key)
            chat_id = phone
        if message.key in seen:
            keyed.duplicates += 1
            continue
        seen.add(message.key)
        lid = lids_of.get(chat_id)
        if lid is not None:
            alias = rekey(message.key, chat_id, lid)
            if alias != message.key:
                keyed.aliases[message.key] = alias
                keyed.chats.update((chat_id, lid))
        keyed.messages.append(message)
    return keyed


def new_messages(
    connection: Connection,
    ops: BulkOps,
    channel_id: int,
    keyed: KeyedMessages,
    *,
    exact: bool = False,
    new_chats: bool = False,
) -> list[Message]:
    """The messages of `keyed` the channel does not store (under their key or its alias).
    `new_chats` (none of the batch's chats held a message when the import began): only
    the messages whose twin may be in another chat are looked up."""
    batch = keyed.messages
    if new_chats and not exact:
        unsure = keyed.unsure()
        if not unsure:
            return batch
        stored = _stored(connection, ops, channel_id, unsure, keyed, True)
    else:
        stored = _stored(connection, ops, channel_id, batch, keyed, exact)
    if not stored:
        return batch
    aliases = keyed.aliases
    if not aliases:
        return [m for m in batch if m.key not in stored]
    return [m for m in batch if m.key not in stored and aliases.get(m.key) not in stored]


def _stored(
    connection: Connection,
    ops: BulkOps,
    channel_id: int,
    batch: list[Message],
    keyed: KeyedMessages,
    exact: bool,
) -> set[str]:
    """The keys of `batch` (and their aliases) the channel stores: by key when `exact` or
    the batch is small, else by the batch's chats and time span (one index range per chat
    instead of one probe per message, for import chunks of thousands; a key stored in
    another chat or at another time is missed, and caught by the insert)."""
    keys = [m.key for m in batch]
    if keyed.aliases:
        keys += [keyed.aliases[key] for key in keys if key in keyed.aliases]
    if exact or len(batch) <= PROBE_EACH_ID:
        return set(ops.lookup(connection, _keys_stored, keys, channel_id=channel_id).scalars())
    low, high = min(m.sent_at for m in batch), max(m.sent_at for m in batch)
    chats = {m.chat_id for m in batch} | keyed.chats
    return stored_in_span(connection, ops, channel_id, chats, low, high).intersection(keys)


def stored_in_span(
    connection: Connection,
    ops: BulkOps,
    channel_id: int,
    chats: set[str],
    low: datetime,
    high: datetime,
) -> set[str]:
    """The keys of the messages the channel stores in `chats` sent in [low, high] (an index
    range a chat)."""
    rows = ops.lookup(
        connection, _keys_in_span, sorted(chats), channel_id=channel_id, low=low, high=high
    )
    return set(rows.scalars())


def _keys_stored(match: Match) -> Select:
    return select(messages.c.message_key).where(
        messages.c.channel_id == bindparam("channel_id"), match(messages.c.message_key)
    )


def _keys_in_span(match: Match) -> Select:
    return select(messages.c.message_key).where(
        messages.c.channel_id == bindparam("channel_id"),
        match(messages.c.chat_id),
        messages.c.sent_at.between(bindparam("low"), bindparam("high")),
    )


def keys_of_ids(
    connection: Connection, channel_id: int, external_ids: Collection[str]
) -> dict[str, str]:
    """The keys the messages a source named by `external_ids` are stored under, each to the
    id it was named by: the id itself (most ids are their key), and the key a WAHA-form id
    names (without a group's participant; its chat the phone chat when the LID's pair is
    stored: one query for all). Messages are found by key (`message_key IN …`), whatever
    alias the id names their chat by: `external_id` is not indexed."""
    keys: dict[str, str] = {}
    named: list[tuple[str, bool, str, str]] = []
    for external_id in external_ids:
        keys.setdefault(external_id, external_id)
        parts = waha_id_parts(external_id)
        if parts is not None:
            try:
                named.append((external_id, parts[0], normalise_jid(parts[1]), parts[2]))
            except InvalidValue:
                continue
    lids = sorted({chat for _, _, chat, _ in named if chat.endswith("@lid")})
    phones = {}
    if lids:
        query = select(lid_mappings.c.lid, lid_mappings.c.wa_id).where(
            lid_mappings.c.channel_id == channel_id, lid_mappings.c.lid.in_(lids)
        )
        phones = {lid: phone for lid, phone in connection.execute(query)}
    for external_id, from_me, chat, wa_id in named:
        key = message_key(from_me, phones.get(chat, chat), external_id, wa_id)
        keys.setdefault(key, external_id)
    return keys
