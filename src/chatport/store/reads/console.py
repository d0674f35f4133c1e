"""What the web console reads beyond the REST API's reads (`reads`), always within one
tenant: channel summaries, the sessions and messages a page refers to."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, func, select

from chatport.store.reads.api import SESSION_COLUMNS, text_column
from chatport.store.tables import chats, messages, sessions
from chatport.store.write_path.message_keys import keys_of_ids


def channel_summaries(connection: Connection, tenant_id: int) -> dict[int, Any]:
    """Per channel id of the tenant: `chats` and `unread` (the sum of unread counts)."""
    query = (
        select(
            chats.c.channel_id,
            func.count().label("chats"),
            func.coalesce(func.sum(chats.c.unread_count), 0).label("unread"),
        )
        .where(chats.c.tenant_id == tenant_id)
        .group_by(chats.c.channel_id)
    )
    return {row.channel_id: row for row in connection.execute(query)}


def chat_row(connection: Connection, channel_id: int, chat_id: str) -> Any | None:
    """A chat of the channel with its preview and unread count."""
    query = select(
        chats.c.chat_id,
        chats.c.name,
        chats.c.is_group,
        chats.c.last_message_at,
        chats.c.unread_count,
        chats.c.bot,
        chats.c.bot_paused_until,
        chats.c.last_human_at,
    ).where(chats.c.channel_id == channel_id, chats.c.chat_id == chat_id)
    return connection.execute(query).first()


def sessions_by_id(connection: Connection, channel_id: int, ids: Collection[Any]) -> dict[Any, Any]:
    """The channel's sessions among `ids`, by id."""
    if not ids:
        return {}
    query = select(*SESSION_COLUMNS).where(
        sessions.c.channel_id == channel_id, sessions.c.id.in_(list(ids))
    )
    return {row.id: row for row in connection.execute(query)}


def messages_by_external_id(
    connection: Connection,
    channel_id: int,
    external_ids: Collection[str],
    text_limit: int | None = None,
) -> dict[str, Any]:
    """The channel's messages named by `external_ids` (their time, text and kind), by those
    ids (found by key: `keys_of_ids`); with `text_limit`, only that many characters of each
    text are read."""
    if not external_ids:
        return {}
    keys = keys_of_ids(connection, channel_id, external_ids)
    query = select(
        messages.c.message_key,
        messages.c.sent_at,
        messages.c.content_type,
        text_column(text_limit),
    ).where(messages.c.channel_id == channel_id, messages.c.message_key.in_(list(keys)))
    return {keys[row.message_key]: row for row in connection.execute(query)}
