"""Keyset pages of the API's lists that `api.py` does not page: channels (by name), a chat's
sessions (oldest first) and agent jobs (newest first). Each takes the last row's sort key of
the page before (`after` / `before`) and a `limit`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, or_, select

from chatport.store.reads.api import CHANNEL_COLUMNS, SESSION_COLUMNS
from chatport.store.tables import agent_jobs, channels, sessions


def channels_page(
    connection: Connection, tenant_id: int, *, limit: int, after: str | None = None
) -> list[Any]:
    """The tenant's channels by name, those after `after`."""
    query = select(*CHANNEL_COLUMNS).where(channels.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(channels.c.name > after)
    return list(connection.execute(query.order_by(channels.c.name).limit(limit)))


def sessions_page(
    connection: Connection,
    channel_id: int,
    chat_id: str,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None = None,
) -> list[Any]:
    """A chat's conversation sessions, oldest first (then by id), after `after`."""
    query = select(*SESSION_COLUMNS).where(
        sessions.c.channel_id == channel_id, sessions.c.chat_id == chat_id
    )
    if after is not None:
        at, last = after
        query = query.where(
            or_(
                sessions.c.started_at > at,
                and_(sessions.c.started_at == at, sessions.c.id > last),
            )
        )
    order = (sessions.c.started_at, sessions.c.id)
    return list(connection.execute(query.order_by(*order).limit(limit)))


def agent_jobs_page(
    connection: Connection,
    tenant_id: int,
    *,
    limit: int,
    status: str | None = None,
    before: tuple[datetime, UUID] | None = None,
) -> list[Any]:
    """The tenant's agent jobs, newest first (then by id), of `status` when given."""
    query = select(agent_jobs).where(agent_jobs.c.tenant_id == tenant_id)
    if status is not None:
        query = query.where(agent_jobs.c.status == status)
    if before is not None:
        at, last = before
        query = query.where(
            or_(
                agent_jobs.c.created_at < at,
                and_(agent_jobs.c.created_at == at, agent_jobs.c.id < last),
            )
        )
    order = (agent_jobs.c.created_at.desc(), agent_jobs.c.id.desc())
    return list(connection.execute(query.order_by(*order).limit(limit)))
