"""The set-based statements of the write path (one statement per step, any batch size)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, select

from chatport.domain.chats import ChatState, advance_chat
from chatport.domain.model import Channel, ChatInfo, ContactRef, Message, Origin, SessionSpan
from chatport.domain.sessions import ChatSessionPlan
from chatport.store.backends.bulk import BulkOps, Match, insert_new
from chatport.store.tables import chats, contacts, messages, sessions

_CHAT_COLUMNS = (
    "tenant_id",
    "channel_id",
    "chat_id",
    "is_group",
    "name",
    "unread_count",
    "created_at",
    "updated_at",
)
_CONTACT_COLUMNS = ("tenant_id", "wa_id", "phone", "lid", "name", "created_at", "updated_at")
_SPAN_COLUMNS = ("started_at", "last_activity_at", "message_count", "status", "updated_at")
_PREVIEW_COLUMNS = (
    "name",
    "contact_id",
    "last_message_at",
    "last_message_id",
    "last_message_text",
    "last_sender",
    "unread_count",
    "updated_at",
)


def _chats_to_lock(match: Match) -> Select:
    return (
        select(
            chats.c.id,
            chats.c.chat_id,
            chats.c.name,
            chats.c.contact_id,
            chats.c.last_message_at,
            chats.c.last_message_id,
            chats.c.last_message_text,
            chats.c.last_sender,
            chats.c.unread_count,
        )
        .where(chats.c.channel_id == bindparam("channel_id"), match(chats.c.chat_id))
        .with_for_update()
    )


def _contacts_by_wa_id(match: Match) -> Select:
    return select(
        contacts.c.id, contacts.c.wa_id, contacts.c.phone, contacts.c.lid, contacts.c.name
    ).where(contacts.c.tenant_id == bindparam("tenant_id"), match(contacts.c.wa_id))


def _sessions_near(match: Match) -> Select:
    return select(
        sessions.c.id,
        sessions.c.chat_id,
        sessions.c.started_at,
        sessions.c.last_activity_at,
        sessions.c.message_count,
    ).where(
        sessions.c.channel_id == bindparam("channel_id"),
        match(sessions.c.chat_id),
        sessions.c.last_activity_at >= bindparam("low"),
        sessions.c.started_at <= bindparam("high"),
    )


@dataclass(frozen=True, slots=True)
class LockedChat:
    """A chat row read (and on PostgreSQL locked) at the start of a batch."""

    id: int
    name: str | None
    contact_id: int | None
    state: ChatState


def lock_chats(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    infos: Mapping[str, ChatInfo],
    now: datetime,
) -> tuple[dict[str, LockedChat], int]:
    """Create the missing chats, then read and lock all of them; return them and the count
    created. Locking every chat of a batch serialises concurrent writers per chat."""
    stamp = ops.encode_time(now)
    rows = [
        (channel.tenant_id, channel.id, info.chat_id, info.is_group, info.name, 0, stamp, stamp)
        for info in sorted(infos.values(), key=lambda i: i.chat_id)
    ]
    created = insert_new(connection, ops, chats, _CHAT_COLUMNS, rows, ("channel_id", "chat_id"))
    locked = {
        row.chat_id: LockedChat(
            row.id,
            row.name,
            row.contact_id,
            ChatState(
                row.last_message_at,
                row.last_message_id,
                row.last_message_text,
                row.last_sender,
                row.unread_count,
            ),
        )
        for row in ops.lookup(connection, _chats_to_lock, sorted(infos), channel_id=channel.id)
    }
    return locked, created


def upsert_contacts(
    connection: Connection,
    ops: BulkOps,
    tenant_id: int,
    refs: Mapping[str, ContactRef],
    now: datetime,
) -> tuple[dict[str, int], int]:
    """Insert missing contacts, fill in unknown phone, LID and name on existing ones;
    return wa_id -> contact id and the number created."""
    if not refs:
        return {}, 0
    stamp = ops.encode_time(now)
    rows = [
        (tenant_id, ref.wa_id, ref.phone, ref.lid, ref.name, stamp, stamp)
        for ref in sorted(refs.values(), key=lambda r: r.wa_id)
    ]
    created = insert_new(connection, ops, contacts, _CONTACT_COLUMNS, rows, ("tenant_id", "wa_id"))
    ids: dict[str, int] = {}
    fills = []
    for row in ops.lookup(connection, _contacts_by_wa_id, list(refs), tenant_id=tenant_id):
        ids[row.wa_id] = row.id
        ref = refs[row.wa_id]
        if (
            (ref.phone and not row.phone)
            or (ref.lid and not row.lid)
            or (ref.name and not row.name)
        ):
            fills.append(
                (row.phone or ref.phone, row.lid or ref.lid, row.name or ref.name, stamp, row.id)
            )
    ops.update_rows(connection, contacts, ("phone", "lid", "name", "updated_at"), "id", fills)
    return ids, created


def read_neighbour_sessions(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    windows: Mapping[str, tuple[datetime, datetime]],
) -> dict[str, list[SessionSpan]]:
    """The stored sessions of each chat that overlap its window, in one query."""
    low = min(window[0] for window in windows.values())
    high = max(window[1] for window in windows.values())
    found: dict[str, list[SessionSpan]] = defaultdict(list)
    rows = ops.lookup(
        connection, _sessions_near, list(windows), channel_id=channel.id, low=low, high=high
    )
    for row in rows:
        chat_low, chat_high = windows[row.chat_id]
        if row.last_activity_at >= chat_low and row.started_at <= chat_high:
            found[row.chat_id].append(
                SessionSpan(row.id, row.started_at, row.last_activity_at, row.message_count)
            )
    return found


SESSION_COLUMNS = (
    "id",
    "tenant_id",
    "channel_id",
    "chat_id",
    "started_at",
    "last_activity_at",
    "message_count",
    "status",
    "created_at",
    "updated_at",
)


def write_sessions(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    plans: Mapping[str, ChatSessionPlan],
    now: datetime,
    timeout: timedelta,
) -> tuple[int, int, int]:
    """Apply the session plans; return (created, extended, merged) counts."""

    def status(span: SessionSpan) -> str:
        return "open" if now - span.last_activity_at <= timeout else "closed"

    time, stamp = ops.encode_time, ops.encode_time(now)
    created = [
        (
            ops.encode_uuid(span.id),
            channel.tenant_id,
            channel.id,
            chat_id,
            time(span.started_at),
            time(span.last_activity_at),
            span.message_count,
            status(span),
            stamp,
            stamp,
        )
        for chat_id, plan in plans.items()
        for span in plan.created
    ]
    extended = [
        (
            time(span.started_at),
            time(span.last_activity_at),
            span.message_count,
            status(span),
            stamp,
            ops.encode_uuid(span.id),
        )
        for plan in plans.values()
        for span in plan.extended
    ]
    merged = [
        (ops.encode_uuid(survivor), ops.encode_uuid(absorbed))
        for plan in plans.values()
        for absorbed, survivor in plan.merged
    ]
    ops.insert_rows(connection, sessions, SESSION_COLUMNS, created)
    ops.update_rows(connection, sessions, _SPAN_COLUMNS, "id", extended)
    ops.update_rows(connection, messages, ("session_id",), "session_id", merged)
    if merged:
        connection.exec_driver_sql(
            f"DELETE FROM sessions WHERE id = {ops.placeholder}",
            [(absorbed,) for _, absorbed in merged],
        )
    return len(created), len(extended), len(merged)


def update_chats(
    connection: Connection,
    ops: BulkOps,
    locked: Mapping[str, LockedChat],
    infos: Mapping[str, ChatInfo],
    by_chat: Mapping[str, Sequence[Message]],
    contact_ids: Mapping[str, int],
    origin: Origin,
    now: datetime,
) -> None:
    """Move each chat's preview forward, apply the unread rules, fill name and counterpart;
    `by_chat` holds the batch's new messages of each chat."""
    time, stamp = ops.encode_time, ops.encode_time(now)
    rows = []
    for chat_id, chat_messages in by_chat.items():
        chat = locked[chat_id]
        info = infos[chat_id]
        preview = advance_chat(chat.state, chat_messages, origin)
        counterpart = info.counterpart
        rows.append(
            (
                info.name or chat.name,
                chat.contact_id or (contact_ids.get(counterpart.wa_id) if counterpart else None),
                time(preview.last_message_at) if preview.last_message_at else None,
                preview.last_message_id,
                preview.last_message_text,
                preview.last_sender,
                preview.unread_count,
                stamp,
                chat.id,
            )
        )
    ops.update_rows(connection, chats, _PREVIEW_COLUMNS, "id", rows)
