"""The one write path: a batch of messages, with everything it implies, in one transaction.

Import chunks, export files, Baileys payloads and live webhooks all end here. For a batch it
upserts chats (locked for the transaction), skips messages already stored, upserts contacts,
applies the session rule against the neighbour sessions of all the batch's chats (read in one
query), bulk inserts the new messages (their source payloads compressed by block into
`message_raws`: `store.raw_archive`), moves chat previews forward, writes outbox events and
dead letters, and (live, for channels with an agent) follows the chats' bursts. The number of
statements does not depend on the number of messages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Required, TypedDict

from sqlalchemy import Connection

from chatport.domain.batch import PreparedBatch
from chatport.domain.events import batch_events
from chatport.domain.model import BatchResult, Channel, Message, Origin, SessionSpan
from chatport.domain.sessions import ChatSessionPlan, neighbour_window, plan_chat_sessions
from chatport.store.backends.bulk import BulkOps
from chatport.store.jobs.bursts import follow_bursts
from chatport.store.jobs.echoes import adopt_echoes
from chatport.store.raw_archive import RAW_COLUMNS, BlockWriter, blocks_needed
from chatport.store.tables import message_raws
from chatport.store.write_path.conversations import (
    LockedChat,
    lock_chats,
    read_neighbour_sessions,
    update_chats,
    upsert_contacts,
    write_sessions,
)
from chatport.store.write_path.events import insert_dead_letters, insert_events
from chatport.store.write_path.lids import (
    fill_contact_lids,
    lid_lock_names,
    remember_lids,
    resolve_lids,
    stored_pairs,
)
from chatport.store.write_path.message_keys import canonical_keys, new_messages
from chatport.store.write_path.spellings import adopt_whatsapp_ids, stored_spellings


class DuplicateElsewhere(RuntimeError):
    """Some of the batch's ids were already stored outside the batch's chats and time span.

    The fast duplicate check looks only where a re-delivered message would be (same chats,
    same time span); an id stored elsewhere (another chat, another timestamp) is caught when
    the insert skips it. The transaction must then be rolled back and the batch written again
    with `exact_duplicates=True`, which checks every id.
    """


@dataclass(frozen=True, slots=True)
class _Write:
    """What every step of one batch write needs."""

    connection: Connection
    ops: BulkOps
    channel: Channel
    origin: Origin
    timeout: timedelta
    now: datetime


class WriteOptions(TypedDict, total=False):
    """How a batch is written; only `origin` is required."""

    origin: Required[Origin]
    """Where the batch comes from (import, export, live, agent): events and bursts follow it."""
    timeout: timedelta | None
    """The session rule's inactivity gap; default: the channel's."""
    now: datetime | None
    """The time the write is stamped with; default: the clock."""
    new_chats: bool
    """The caller knows that none of the batch's chats held a message when it began (an
    import's chats the store lacked at the job's start), so the duplicate check is skipped;
    a message stored since (a live delivery) makes the insert raise DuplicateElsewhere, and
    the exact pass checks every id."""
    known_lids: Mapping[str, str] | None
    """`@lid` -> phone pairs already stored and merged (an import's, read from WAHA at the
    job's start); the batch's pairs among them are not stored and merged again."""


def write_batch(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    batch: PreparedBatch,
    *,
    origin: Origin,
    timeout: timedelta | None = None,
    now: datetime | None = None,
    exact_duplicates: bool = False,
    new_chats: bool = False,
    known_lids: Mapping[str, str] | None = None,
) -> BatchResult:
    """Write `batch` on `connection`, inside the caller's transaction; return exact counters.

    The options are WriteOptions'. Raises DuplicateElsewhere (see there) unless
    `exact_duplicates` is set.
    """
    write = _Write(
        connection,
        ops,
        channel,
        origin,
        channel.session_timeout if timeout is None else timeout,
        now or datetime.now(UTC),
    )
    result = BatchResult(
        duplicates=batch.duplicates,
        invalid=len(batch.invalid),
        invalid_reasons=[item.reason for item in batch.invalid],
    )
    new: list[Message] = []
    plans: dict[str, ChatSessionPlan] = {}
    if batch.messages and origin is Origin.EXPORT:  # numbers as people wrote them
        batch = stored_spellings(connection, channel, batch)
    elif batch.messages and origin is not Origin.AGENT:  # WhatsApp's own ids
        adopt_whatsapp_ids(connection, ops, channel, batch, write.now)
    if batch.messages:
        pairs = batch.lid_pairs()
        lids = batch.unknown_lids() | pairs.keys()
        if lids:  # before any row lock, as `remember_lids` takes them (no deadlock)
            ops.lock_names(connection, lid_lock_names(channel, sorted(lids)))
        chats, result.chats_created = lock_chats(connection, ops, channel, batch.chats, write.now)
        if known_lids:
            pairs = {lid: phone for lid, phone in pairs.items() if known_lids.get(lid) != phone}
        known = stored_pairs(connection, ops, channel, batch.unknown_lids() - pairs.keys())
        keyed = canonical_keys(batch.messages, batch.chats.keys(), {**known, **pairs}, pairs)
        new = new_messages(
            connection,
            ops,
            channel.id,
            keyed,
            exact=exact_duplicates,
            new_chats=new_chats,
        )
        if origin is Origin.LIVE and any(m.from_me for m in new):  # WAHA's echo of our sends
            echoes = adopt_echoes(connection, channel.id, [m for m in new if m.from_me], write.now)
            new = [m for m in new if m.external_id not in echoes]
        result.duplicates += len(batch.messages) - len(new)
    if new:
        try:
            plans = _write_new(write, batch, new, chats, result)
        except Exception as error:
            if exact_duplicates or not ops.is_unique_violation(error):
                raise
            raise DuplicateElsewhere(str(error)) from error
    if batch.messages:  # also when all were duplicates: a LID chat the batch named joins
        remember_lids(connection, ops, channel, pairs)
        resolve_lids(connection, ops, channel, known)
    if new and origin is Origin.LIVE and channel.has_agent:
        follow_bursts(connection, ops, channel, new, write.now)
    events = batch_events(channel.id, origin, new, plans, result)
    insert_events(connection, ops, channel, events, write.now)
    insert_dead_letters(connection, ops, channel, origin, batch.invalid, write.now)
    return result


def _write_new(
    write: _Write,
    batch: PreparedBatch,
    new: list[Message],
    chats: dict[str, LockedChat],
    result: BatchResult,
) -> dict[str, ChatSessionPlan]:
    """Contacts, sessions, messages and chat previews of the new messages; returns the
    session plans and fills the counters in `result`."""
    connection, ops, channel, now = write.connection, write.ops, write.channel, write.now
    contact_ids, result.contacts_created = upsert_contacts(
        connection, ops, channel.tenant_id, batch.contacts, now
    )
    if result.contacts_created:
        fill_contact_lids(
            connection, channel, (r.wa_id for r in batch.contacts.values() if not r.lid)
        )
    by_chat: dict[str, list[Message]] = defaultdict(list)
    for message in new:
        by_chat[message.chat_id].append(message)
    neighbours = _neighbour_sessions(write, by_chat)
    plans: dict[str, ChatSessionPlan] = {}
    # The rows are generated while they are written: on PostgreSQL the session rule and the
    # row building run while the server is still indexing the rows sent before them.
    blocks = blocks_needed(sum(1 for m in new if m.raw is not None))
    raws = BlockWriter(
        channel.id, ops.allocate_raw_blocks(connection, blocks), ops.encode_time(now)
    )
    rows = _message_rows(write, by_chat, neighbours, plans, contact_ids, raws)
    inserted = ops.insert_messages(connection, rows)
    if inserted != len(new):
        raise DuplicateElsewhere(f"{len(new) - inserted} of {len(new)} ids were stored elsewhere")
    ops.insert_rows(connection, message_raws, RAW_COLUMNS, raws.rows())
    result.created = len(new)
    counts = write_sessions(connection, ops, channel, plans, now, write.timeout)
    result.sessions_created, result.sessions_extended, result.sessions_merged = counts
    update_chats(connection, ops, chats, batch.chats, by_chat, contact_ids, write.origin, now)
    return plans


def _neighbour_sessions(
    write: _Write, by_chat: dict[str, list[Message]]
) -> dict[str, list[SessionSpan]]:
    windows = {
        chat_id: neighbour_window((m.sent_at for m in chat_messages), write.timeout)
        for chat_id, chat_messages in by_chat.items()
    }
    return read_neighbour_sessions(write.connection, write.ops, write.channel, windows)


def _message_rows(
    write: _Write,
    by_chat: dict[str, list[Message]],
    neighbours: dict[str, list[SessionSpan]],
    plans: dict[str, ChatSessionPlan],
    contact_ids: dict[str, int],
    raws: BlockWriter,
) -> Iterator[tuple]:
    """Plan each chat's sessions (into `plans`) and yield its message rows, chat by chat;
    their payloads go to `raws`."""
    ops = write.ops
    time, uuid, archive = ops.encode_time, ops.encode_uuid, raws.add
    tenant_id, channel_id = write.channel.tenant_id, write.channel.id
    origin_text, created_at = str(write.origin), time(write.now)
    for chat_id, chat_messages in sorted(by_chat.items()):
        plan = plan_chat_sessions(
            neighbours.get(chat_id, []), chat_messages, write.timeout, write.channel.key
        )
        plans[chat_id] = plan
        assignments = plan.assignments
        # Keyed by the UUIDs' integers: hashing a UUID is a Python call, an int's is not.
        sessions = {span.id.int: uuid(span.id) for span in (*plan.created, *plan.extended)}
        for m in chat_messages:
            media = m.media
            author = m.author
            yield (
                tenant_id,
                channel_id,
                m.external_id,
                m.key,
                chat_id,
                contact_ids.get(author.wa_id) if author is not None else None,
                sessions[assignments[m.external_id].int],
                time(m.sent_at),
                m.from_me,
                m.content_type,
                m.text,
                media.url if media else None,
                media.mime if media else None,
                media.filename if media else None,
                media.size if media else None,
                origin_text,
                created_at,
                *archive(m.raw),
            )
