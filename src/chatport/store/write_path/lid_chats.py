"""A 1:1 chat first stored under the contact's LID (`…@lid`) joins the contact's phone chat
once the LID -> phone pair is known: one person, one chat.

First its messages take their keys in the phone chat, a message stored under both becoming
one row (`store.write_path.lid_messages`). Without a phone chat yet, the LID chat is renamed
(its row, messages and sessions take the phone chat id). With one, the LID chat's messages
and sessions move into it, sessions closer than the channel's timeout join (the session rule
over all the messages, as if they had always been one chat), the previews combine (the later
last message, unread counts added) and the LID chat's row goes. Both chats are locked first,
in one statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from chatport.domain.events import chat_joined_events
from chatport.domain.model import Channel, SessionSpan
from chatport.domain.sessions import ChatSessionPlan, join_sessions
from chatport.store.backends.bulk import BulkOps
from chatport.store.tables import chats, messages, sessions
from chatport.store.write_path.conversations import write_sessions
from chatport.store.write_path.events import insert_events
from chatport.store.write_path.lid_messages import rekey_chat

_PREVIEW = ("last_message_at", "last_message_id", "last_message_text", "last_sender")


def join_lid_chats(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    pairs: Mapping[str, str],
    now: datetime,
) -> int:
    """Join each of the channel's chats keyed by a LID of `pairs` (`lid` -> `…@c.us`) to its
    phone chat, inside the caller's transaction; return how many chats joined."""
    lid_chats = connection.execute(
        select(chats.c.chat_id).where(
            chats.c.channel_id == channel.id, chats.c.chat_id.in_(sorted(pairs))
        )
    ).scalars()
    joined = 0
    for lid in sorted(lid_chats):
        _join(connection, ops, channel, lid, pairs[lid], now)
        joined += 1
    return joined


def _join(
    connection: Connection, ops: BulkOps, channel: Channel, lid: str, phone: str, now: datetime
) -> None:
    both = {
        row.chat_id: row
        for row in connection.execute(
            select(chats)
            .where(chats.c.channel_id == channel.id, chats.c.chat_id.in_([lid, phone]))
            .order_by(chats.c.chat_id)
            .with_for_update()
        )
    }
    lid_row, phone_row = both[lid], both.get(phone)
    merged = rekey_chat(connection, ops, channel, lid, phone).merged
    lid_spans = _spans(connection, channel, lid)
    near = _near(connection, channel, phone, lid_spans) if phone_row is not None else []
    for table in (messages, sessions):
        connection.execute(
            update(table)
            .where(table.c.channel_id == channel.id, table.c.chat_id == lid)
            .values(chat_id=phone)
        )
    if phone_row is None:
        connection.execute(update(chats).where(chats.c.id == lid_row.id).values(chat_id=phone))
        events = chat_joined_events(lid, phone, ChatSessionPlan(), len(merged))
        insert_events(connection, ops, channel, events, now)
        return
    plan = join_sessions(lid_spans + near, channel.session_timeout)
    write_sessions(connection, ops, channel, {phone: plan}, now, channel.session_timeout)
    later = max(
        (lid_row, phone_row),
        key=lambda row: (row.last_message_at is not None, row.last_message_at, row is phone_row),
    )
    preview = {column: getattr(later, column) for column in _PREVIEW}
    last_id = preview["last_message_id"]
    preview["last_message_id"] = merged.get(last_id, last_id)
    connection.execute(delete(chats).where(chats.c.id == lid_row.id))
    connection.execute(
        update(chats)
        .where(chats.c.id == phone_row.id)
        .values(
            **preview,
            name=phone_row.name or lid_row.name,
            contact_id=phone_row.contact_id or lid_row.contact_id,
            unread_count=phone_row.unread_count + lid_row.unread_count,
            updated_at=now,
        )
    )
    insert_events(connection, ops, channel, chat_joined_events(lid, phone, plan, len(merged)), now)


def _spans(connection: Connection, channel: Channel, chat_id: str) -> list[SessionSpan]:
    return _read(connection, sessions.c.channel_id == channel.id, sessions.c.chat_id == chat_id)


def _near(
    connection: Connection, channel: Channel, chat_id: str, spans: list[SessionSpan]
) -> list[SessionSpan]:
    """The chat's sessions within the timeout of the span of `spans`."""
    if not spans:
        return []
    low = min(s.started_at for s in spans) - channel.session_timeout
    high = max(s.last_activity_at for s in spans) + channel.session_timeout
    return _read(
        connection,
        sessions.c.channel_id == channel.id,
        sessions.c.chat_id == chat_id,
        sessions.c.last_activity_at >= low,
        sessions.c.started_at <= high,
    )


def _read(connection: Connection, *where) -> list[SessionSpan]:
    query = select(
        sessions.c.id, sessions.c.started_at, sessions.c.last_activity_at, sessions.c.message_count
    ).where(*where)
    return [SessionSpan(*row) for row in connection.execute(query)]
