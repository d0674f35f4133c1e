"""What changed lately, for live views: messages stored since a row id, and outbound messages
whose send state changed since a time (`api/feed.py` polls these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from chatport.store.tables import messages, outbound_messages


def watermark(connection: Connection) -> tuple[int, datetime | None]:
    """The newest message row id and the latest send-state change (where a feed starts)."""
    newest = connection.execute(select(func.max(messages.c.id))).scalar() or 0
    changed = connection.execute(select(func.max(outbound_messages.c.updated_at))).scalar()
    return newest, changed


def changes_after(
    connection: Connection, after: int, since: datetime | None, limit: int = 2_000
) -> tuple[list[Any], list[Any]]:
    """Messages stored after row id `after` and outbound messages changed after `since`, each
    as `(id, channel_id, chat_id)` rows (`id`: the message row's; new ones with `id` ascending,
    changed ones with their `updated_at`)."""
    new = connection.execute(
        select(messages.c.id, messages.c.channel_id, messages.c.chat_id)
        .where(messages.c.id > after)
        .order_by(messages.c.id)
        .limit(limit)
    ).all()
    query = select(
        outbound_messages.c.message_id.label("id"),
        outbound_messages.c.channel_id,
        outbound_messages.c.chat_id,
        outbound_messages.c.updated_at,
    )
    if since is not None:
        query = query.where(outbound_messages.c.updated_at > since)
    changed = connection.execute(query.order_by(outbound_messages.c.updated_at).limit(limit)).all()
    return new, changed
