"""What the REST API reads, always within one tenant: channels, chats, messages, sessions,
contacts, events. Pages are keyset-paginated (a cursor is the last row's sort key)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, text, update

from chatport.store.secret_box import SecretBox
from chatport.store.tables import (
    channels,
    chats,
    contacts,
    events,
    messages,
    outbound_messages,
    sessions,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHANNEL_COLUMNS = (
    channels.c.id,
    channels.c.name,
    channels.c.waha_url,
    channels.c.waha_session,
    channels.c.me_id,
    channels.c.status,
    channels.c.session_timeout_seconds,
    and_(channels.c.webhook_hmac_key.is_not(None), channels.c.webhook_hmac_key != "").label(
        "webhook_signed"
    ),  # whether the channel has its own key, never the key
    channels.c.agent_url,
    channels.c.debounce_quiet_ms,
    channels.c.debounce_max_wait_ms,
    channels.c.agent_groups,
    channels.c.handoff_minutes,
    channels.c.created_at,
)


def ping(connection: Connection) -> None:
    """The simplest query: raises when the database does not answer."""
    connection.execute(text("SELECT 1"))


def tenant_channels(connection: Connection, tenant_id: int) -> list[Any]:
    """The tenant's channels by name."""
    query = select(*CHANNEL_COLUMNS).where(channels.c.tenant_id == tenant_id)
    return list(connection.execute(query.order_by(channels.c.name)))


def channel_names(connection: Connection, tenant_id: int) -> dict[int, str]:
    """The tenant's channel names by channel id."""
    query = select(channels.c.id, channels.c.name).where(channels.c.tenant_id == tenant_id)
    return {row.id: row.name for row in connection.execute(query)}


def tenant_channel(connection: Connection, tenant_id: int, name: str) -> Any | None:
    """One of the tenant's channels by name (None for another tenant's)."""
    query = select(*CHANNEL_COLUMNS).where(
        channels.c.tenant_id == tenant_id, channels.c.name == name
    )
    return connection.execute(query).first()


def chats_page(
    connection: Connection,
    channel_id: int,
    *,
    limit: int,
    unread_only: bool = False,
    before: tuple[datetime, int] | None = None,
    search: tuple[str, tuple[str, ...]] | None = None,
    chat_ids: Collection[str] | None = None,
) -> list[Any]:
    """A channel's chats, latest activity first; with `search` (text, numbers), only those
    whose name contains the text (any case) or whose id contains the text or a number."""
    activity = func.coalesce(chats.c.last_message_at, _EPOCH)
    query = select(
        chats.c.id,
        chats.c.chat_id,
        chats.c.name,
        chats.c.is_group,
        chats.c.last_message_at,
        chats.c.last_message_text,
        chats.c.last_sender,
        chats.c.unread_count,
        chats.c.bot,
        chats.c.bot_paused_until,
        chats.c.last_human_at,
        activity.label("activity"),
    ).where(chats.c.channel_id == channel_id)
    if unread_only:
        query = query.where(chats.c.unread_count > 0)
    if chat_ids is not None:
        query = query.where(chats.c.chat_id.in_(sorted(chat_ids)))
    if search is not None:
        text, numbers = search
        matches = [
            func.lower(chats.c.name).contains(text.lower(), autoescape=True),
            chats.c.chat_id.contains(text, autoescape=True),
        ]
        matches += [chats.c.chat_id.contains(number, autoescape=True) for number in numbers]
        query = query.where(or_(*matches))
    if before is not None:
        at, row_id = before
        query = query.where(or_(activity < at, and_(activity == at, chats.c.id < row_id)))
    return list(connection.execute(query.order_by(activity.desc(), chats.c.id.desc()).limit(limit)))


def channel_chat_ids(connection: Connection, channel_id: int) -> frozenset[str]:
    """The ids of every chat the channel has."""
    query = select(chats.c.chat_id).where(chats.c.channel_id == channel_id)
    return frozenset(connection.execute(query).scalars())


def chat_exists(connection: Connection, channel_id: int, chat_id: str) -> bool:
    """Whether the channel has the chat."""
    query = select(chats.c.id).where(chats.c.channel_id == channel_id, chats.c.chat_id == chat_id)
    return connection.execute(query).first() is not None


_SEND_STATE = case(
    (outbound_messages.c.state == "sending", "pending"), else_=outbound_messages.c.state
).label("send_state")
"""The send state shown: a send under way is still pending."""


def messages_page(
    connection: Connection,
    channel_id: int,
    chat_id: str,
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
    text_limit: int | None = None,
    ids: Collection[int] | None = None,
) -> list[Any]:
    """A chat's messages, newest first, with their authors' WhatsApp ids and, for those
    chatport sends, their send state (`pending`, `sent`, `failed`) and error; with
    `text_limit`, only that many characters of each text are read; with `ids`, only the
    messages of those row ids."""
    query = (
        select(
            messages.c.id,
            messages.c.external_id,
            messages.c.chat_id,
            messages.c.session_id,
            messages.c.sent_at,
            messages.c.from_me,
            contacts.c.wa_id.label("author"),
            contacts.c.name.label("author_name"),
            messages.c.content_type,
            text_column(text_limit),
            messages.c.media_url,
            messages.c.media_mime,
            messages.c.media_filename,
            messages.c.media_size,
            messages.c.origin,
            messages.c.ack,
            messages.c.revoked_at,
            messages.c.edited_at,
            messages.c.edits,
            _SEND_STATE,
            outbound_messages.c.error.label("send_error"),
        )
        .outerjoin(contacts, contacts.c.id == messages.c.contact_id)
        .outerjoin(outbound_messages, outbound_messages.c.message_id == messages.c.id)
        .where(messages.c.channel_id == channel_id, messages.c.chat_id == chat_id)
    )
    if ids is not None:
        query = query.where(messages.c.id.in_(sorted(ids)))
    if before is not None:
        at, row_id = before
        query = query.where(
            or_(messages.c.sent_at < at, and_(messages.c.sent_at == at, messages.c.id < row_id))
        )
    order = (messages.c.sent_at.desc(), messages.c.id.desc())
    return list(connection.execute(query.order_by(*order).limit(limit)))


SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.started_at,
    sessions.c.last_activity_at,
    sessions.c.message_count,
    sessions.c.status,
)


def chat_sessions(connection: Connection, channel_id: int, chat_id: str) -> list[Any]:
    """A chat's conversation sessions, oldest first."""
    query = select(*SESSION_COLUMNS).where(
        sessions.c.channel_id == channel_id, sessions.c.chat_id == chat_id
    )
    return list(connection.execute(query.order_by(sessions.c.started_at)))


def mark_read(connection: Connection, channel_id: int, chat_id: str) -> bool:
    """Clear a chat's unread count; False when the channel has no such chat."""
    result = connection.execute(
        update(chats)
        .where(chats.c.channel_id == channel_id, chats.c.chat_id == chat_id)
        .values(unread_count=0, updated_at=datetime.now(UTC))
    )
    return bool(result.rowcount)


def contacts_page(
    connection: Connection, tenant_id: int, *, limit: int, after: int = 0
) -> list[Any]:
    """The tenant's contacts in creation order."""
    query = select(
        contacts.c.id, contacts.c.wa_id, contacts.c.phone, contacts.c.lid, contacts.c.name
    ).where(contacts.c.tenant_id == tenant_id, contacts.c.id > after)
    return list(connection.execute(query.order_by(contacts.c.id).limit(limit)))


def events_page(
    connection: Connection,
    tenant_id: int,
    *,
    limit: int,
    after: int = 0,
    channel_id: int | None = None,
) -> list[Any]:
    """The tenant's outbox events after id `after`, oldest first, with their channel names."""
    query = (
        select(
            events.c.id,
            events.c.type,
            events.c.aggregate_type,
            events.c.aggregate_id,
            events.c.payload,
            events.c.created_at,
            channels.c.name.label("channel"),
        )
        .outerjoin(channels, channels.c.id == events.c.channel_id)
        .where(events.c.tenant_id == tenant_id, events.c.id > after)
    )
    if channel_id is not None:
        query = query.where(events.c.channel_id == channel_id)
    return list(connection.execute(query.order_by(events.c.id).limit(limit)))


def set_webhook_key(
    connection: Connection, channel_id: int, key: str, *, secrets: SecretBox
) -> None:
    """Give a channel its own webhook HMAC key (sealed by `secrets`)."""
    connection.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(webhook_hmac_key=secrets.seal(key), updated_at=datetime.now(UTC))
    )


def set_agent(
    connection: Connection,
    channel_id: int,
    url: str | None,
    quiet_ms: int | None,
    max_wait_ms: int | None,
) -> None:
    """Name a channel's agent (its live inbound bursts become agent jobs) and its own
    debounce windows (None: the global ones)."""
    connection.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(
            agent_url=url,
            debounce_quiet_ms=quiet_ms,
            debounce_max_wait_ms=max_wait_ms,
            updated_at=datetime.now(UTC),
        )
    )


def set_bot_policy(
    connection: Connection,
    channel_id: int,
    agent_groups: bool | None,
    handoff_minutes: float | None,
) -> None:
    """A channel's own group policy and handoff window (None: the settings')."""
    connection.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(
            agent_groups=agent_groups,
            handoff_minutes=handoff_minutes,
            updated_at=datetime.now(UTC),
        )
    )


def text_column(limit: int | None) -> Any:
    """`messages.text`, or its first `limit` characters (as `text`) when a limit is given."""
    if limit is None:
        return messages.c.text
    return func.substr(messages.c.text, 1, limit).label("text")
