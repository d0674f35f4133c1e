"""The one write path: a batch of messages, with everything it implies, in one transaction.

Import chunks, export files, Baileys payloads and live webhooks all end here. For a batch it
upserts chats (locked for the transaction), skips messages already stored, upserts contacts,
applies the session rule against the neighbour sessions of all the batch's chats (read in one
query), bulk inserts the new messages, moves chat previews forward, writes outbox events and
dead letters. The number of statements does not depend on the number of messages.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select

from chatport.domain.batch import PreparedBatch
from chatport.domain.events import batch_events
from chatport.domain.model import BatchResult, Channel, Message, Origin
from chatport.domain.sessions import ChatSessionPlan, neighbour_window, plan_chat_sessions
from chatport.store import jsoncodec
from chatport.store.bulk import BulkOps
from chatport.store.tables import messages
from chatport.store.records import insert_dead_letters, insert_events
from chatport.store.writes import (
    lock_chats,
    read_neighbour_sessions,
    update_chats,
    upsert_contacts,
    write_sessions,
)


class ConcurrentWriteError(RuntimeError):
    """Another writer stored some of this batch's messages after they were checked.

    The chats of a batch are locked, so this only happens when one external id is written to
    two different chats at once; the transaction is rolled back and can be retried.
    """


def write_batch(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    batch: PreparedBatch,
    *,
    origin: Origin,
    timeout: timedelta | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Write `batch` on `connection`, inside the caller's transaction; return exact counters."""
    timeout = channel.session_timeout if timeout is None else timeout
    now = now or datetime.now(UTC)
    result = BatchResult(
        duplicates=batch.duplicates,
        invalid=len(batch.invalid),
        invalid_reasons=[item.reason for item in batch.invalid],
    )
    new: list[Message] = []
    plans: dict[str, ChatSessionPlan] = {}
    if batch.messages:
        chats, result.chats_created = lock_chats(connection, ops, channel, batch.chats, now)
        stored = _stored_ids(connection, ops, channel, batch.messages)
        new = [m for m in batch.messages if m.external_id not in stored]
        result.duplicates += len(batch.messages) - len(new)
    if new:
        contact_ids, result.contacts_created = upsert_contacts(
            connection, ops, channel.tenant_id, batch.contacts, now
        )
        plans = _plan_sessions(connection, ops, channel, new, timeout)
        counts = write_sessions(connection, ops, channel, plans, now, timeout)
        result.sessions_created, result.sessions_extended, result.sessions_merged = counts
        _insert_messages(connection, ops, channel, new, plans, contact_ids, origin, now)
        result.created = len(new)
        update_chats(connection, chats, batch.chats, new, contact_ids, origin, now)
    events = batch_events(channel.id, origin, new, plans, result)
    insert_events(connection, ops, channel, events, now)
    insert_dead_letters(connection, ops, channel, origin, batch.invalid, now)
    return result


def _stored_ids(
    connection: Connection, ops: BulkOps, channel: Channel, batch: list[Message]
) -> set[str]:
    query = select(messages.c.external_id).where(
        messages.c.channel_id == channel.id,
        ops.in_values(messages.c.external_id, [m.external_id for m in batch]),
    )
    return set(connection.execute(query).scalars())


def _plan_sessions(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    new: list[Message],
    timeout: timedelta,
) -> dict[str, ChatSessionPlan]:
    by_chat: dict[str, list[Message]] = defaultdict(list)
    for message in new:
        by_chat[message.chat_id].append(message)
    windows = {
        chat_id: neighbour_window((m.sent_at for m in chat_messages), timeout)
        for chat_id, chat_messages in by_chat.items()
    }
    neighbours = read_neighbour_sessions(connection, ops, channel, windows)
    return {
        chat_id: plan_chat_sessions(
            neighbours.get(chat_id, []), chat_messages, timeout, channel.key
        )
        for chat_id, chat_messages in sorted(by_chat.items())
    }


def _insert_messages(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    new: list[Message],
    plans: dict[str, ChatSessionPlan],
    contact_ids: dict[str, int],
    origin: Origin,
    now: datetime,
) -> None:
    time, json = ops.encode_time, ops.encode_json
    tenant_id, channel_id = channel.tenant_id, channel.id
    origin_text, created_at = str(origin), time(now)
    sessions = {
        session_id: ops.encode_uuid(session_id)
        for plan in plans.values()
        for session_id in set(plan.assignments.values())
    }
    rows = []
    for m in new:
        media = m.media
        author = m.author
        rows.append(
            (
                tenant_id,
                channel_id,
                m.external_id,
                m.chat_id,
                contact_ids.get(author.wa_id) if author is not None else None,
                sessions[plans[m.chat_id].assignments[m.external_id]],
                time(m.sent_at),
                m.from_me,
                m.content_type,
                m.text,
                media.url if media else None,
                media.mime if media else None,
                media.filename if media else None,
                origin_text,
                json(jsoncodec.dumps(m.raw)) if m.raw is not None else None,
                created_at,
            )
        )
    inserted = ops.insert_messages(connection, rows)
    if inserted != len(rows):
        raise ConcurrentWriteError(
            f"{len(rows) - inserted} of {len(rows)} messages were stored by another writer"
        )

