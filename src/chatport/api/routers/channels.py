"""The tenant-scoped REST API (`/v1`): channels, chats, messages, sessions, contacts, events.

Every route needs `X-Api-Key`; what belongs to another tenant answers 404, as what does not
exist does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from chatport.api import cursors
from chatport.api.auth import TenantDep
from chatport.api.deps import DatabaseDep, SettingsDep
from chatport.api.params import ChannelName, ChatId, Cursor
from chatport.api.responses import ERRORS
from chatport.api.schemas import (
    ChannelIn,
    ChannelOut,
    ChatOut,
    ContactOut,
    EventOut,
    MessageOut,
    Page,
    ReadOut,
    SessionOut,
)
from chatport.errors import UrlRefused
from chatport.outbound import check_tenant_urls
from chatport.store.channels import create_channel, remember_waha
from chatport.store.database import Database
from chatport.store.jobs.bot import state_of
from chatport.store.reads import api as reads
from chatport.store.reads import pages
from chatport.store.tenants import Tenant

router = APIRouter(prefix="/v1", responses=ERRORS)
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]


async def run_read(database: Database, work) -> Any:
    """`work(connection)` on a connection of `database`, in a worker thread."""

    def run() -> Any:
        with database.engine.connect() as connection:
            return work(connection)

    return await run_in_threadpool(run)


def channel_row(connection: Connection, tenant: Tenant, name: str) -> Any:
    row = reads.tenant_channel(connection, tenant.id, name)
    if row is None:
        raise HTTPException(404, f"no channel {name!r}")
    return row


def _chat_channel(connection: Connection, tenant: Tenant, name: str, chat_id: str) -> Any:
    """The channel row, once it is known to have the chat (404 for either missing)."""
    row = channel_row(connection, tenant, name)
    if not reads.chat_exists(connection, row.id, chat_id):
        raise HTTPException(404, f"no chat {chat_id!r}")
    return row


def channel_out(row: Any) -> ChannelOut:
    seconds = row.session_timeout_seconds
    return ChannelOut(
        name=row.name,
        waha_url=row.waha_url,
        waha_session=row.waha_session,
        me_id=row.me_id,
        status=row.status,
        session_timeout_minutes=seconds / 60 if seconds else None,
        webhook_signed=bool(row.webhook_signed),
        has_agent=bool(row.agent_url),
        debounce_quiet_ms=row.debounce_quiet_ms,
        debounce_max_wait_ms=row.debounce_max_wait_ms,
        agent_groups=row.agent_groups,
        handoff_minutes=row.handoff_minutes,
        created_at=row.created_at,
    )


def chat_out(row: Any, now: datetime) -> ChatOut:
    """A chat of a list, its bot as of `now`."""
    bot = state_of(row, now)
    return ChatOut.model_validate(
        {**row._mapping, "bot": bot.mode, "bot_paused_until": bot.paused_until}
    )


@router.get("/channels", tags=["channels"], response_model=Page[ChannelOut])
async def list_channels(
    database: DatabaseDep, tenant: TenantDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[ChannelOut]:
    """The tenant's channels, by name."""
    after = cursors.decode_text(cursor)
    rows = await run_read(
        database, lambda c: pages.channels_page(c, tenant.id, limit=limit, after=after)
    )
    last = rows[-1] if len(rows) == limit else None
    return Page(
        items=[channel_out(row) for row in rows],
        next_cursor=cursors.encode(last.name) if last else None,
    )


@router.post("/channels", tags=["channels"], status_code=201, response_model=ChannelOut)
async def create_tenant_channel(
    database: DatabaseDep, settings: SettingsDep, tenant: TenantDep, channel: ChannelIn
) -> ChannelOut:
    """Create a channel (409 when the tenant has one of that name, or another channel has its
    WAHA session: the same `waha_url` and `waha_session`; 422 for a URL whose host is not
    public, unless the operator allows private networks)."""
    urls = {"waha_url": channel.waha_url, "agent_url": channel.agent_url}
    try:
        await run_in_threadpool(check_tenant_urls, urls, allow_private=settings.allow_private_urls)
    except UrlRefused as refused:
        raise HTTPException(422, str(refused)) from None

    def create() -> Any:
        timeout = channel.session_timeout_minutes
        with database.unit_of_work() as uow:
            created = create_channel(
                uow.connection,
                channel.name,
                tenant=tenant.name,
                waha_session=channel.waha_session,
                session_timeout=timedelta(minutes=timeout) if timeout else None,
                default_timeout=database.default_timeout,
            )
            if channel.waha_url:
                remember_waha(
                    uow.connection,
                    created,
                    channel.waha_url,
                    channel.waha_session or channel.name,
                    channel.waha_api_key,
                    secrets=database.secrets,
                )
            if channel.webhook_hmac_key:
                reads.set_webhook_key(
                    uow.connection, created.id, channel.webhook_hmac_key, secrets=database.secrets
                )
            if channel.agent_url or channel.debounce_quiet_ms or channel.debounce_max_wait_ms:
                reads.set_agent(
                    uow.connection,
                    created.id,
                    channel.agent_url,
                    channel.debounce_quiet_ms,
                    channel.debounce_max_wait_ms,
                )
            if channel.agent_groups is not None or channel.handoff_minutes is not None:
                reads.set_bot_policy(
                    uow.connection, created.id, channel.agent_groups, channel.handoff_minutes
                )
            uow.commit()
            return channel_row(uow.connection, tenant, channel.name)

    try:
        return channel_out(await run_in_threadpool(create))
    except IntegrityError:
        raise HTTPException(409, f"a channel {channel.name!r} exists") from None


@router.get("/channels/{channel}", tags=["channels"], response_model=ChannelOut)
async def get_channel(database: DatabaseDep, tenant: TenantDep, channel: ChannelName) -> ChannelOut:
    """One channel."""
    return channel_out(await run_read(database, lambda c: channel_row(c, tenant, channel)))


@router.get("/channels/{channel}/chats", tags=["chats"], response_model=Page[ChatOut])
async def list_chats(
    database: DatabaseDep,
    tenant: TenantDep,
    channel: ChannelName,
    limit: Limit = 50,
    cursor: Cursor = None,
    unread: Annotated[bool, Query(description="Only chats with unread messages")] = False,
) -> Page[ChatOut]:
    """The channel's chats, latest activity first."""
    before = cursors.decode_time_and_id(cursor)

    def page(connection: Connection) -> list[Any]:
        row = channel_row(connection, tenant, channel)
        return reads.chats_page(connection, row.id, limit=limit, unread_only=unread, before=before)

    rows = await run_read(database, page)
    now = datetime.now(UTC)
    items = [chat_out(row, now) for row in rows]
    last = rows[-1] if len(rows) == limit else None
    return Page(items=items, next_cursor=cursors.encode(last.activity, last.id) if last else None)


@router.get(
    "/channels/{channel}/chats/{chat_id}/messages",
    tags=["chats"],
    response_model=Page[MessageOut],
)
async def list_messages(
    database: DatabaseDep,
    tenant: TenantDep,
    channel: ChannelName,
    chat_id: ChatId,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[MessageOut]:
    """A chat's messages, newest first."""
    before = cursors.decode_time_and_id(cursor)

    def page(connection: Connection) -> list[Any]:
        row = _chat_channel(connection, tenant, channel, chat_id)
        return reads.messages_page(connection, row.id, chat_id, limit=limit, before=before)

    rows = await run_read(database, page)
    items = [MessageOut.model_validate({**row._mapping, "id": row.external_id}) for row in rows]
    last = rows[-1] if len(rows) == limit else None
    return Page(items=items, next_cursor=cursors.encode(last.sent_at, last.id) if last else None)


@router.get(
    "/channels/{channel}/chats/{chat_id}/sessions",
    tags=["chats"],
    response_model=Page[SessionOut],
)
async def list_sessions(
    database: DatabaseDep,
    tenant: TenantDep,
    channel: ChannelName,
    chat_id: ChatId,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[SessionOut]:
    """A chat's conversation sessions, oldest first."""
    after = cursors.decode_time_and_uuid(cursor)

    def sessions(connection: Connection) -> list[Any]:
        row = _chat_channel(connection, tenant, channel, chat_id)
        return pages.sessions_page(connection, row.id, chat_id, limit=limit, after=after)

    rows = await run_read(database, sessions)
    items = [SessionOut.model_validate(row, from_attributes=True) for row in rows]
    last = rows[-1] if len(rows) == limit else None
    return Page(items=items, next_cursor=cursors.encode(last.started_at, last.id) if last else None)


@router.post("/channels/{channel}/chats/{chat_id}/read", tags=["chats"], response_model=ReadOut)
async def read_chat(
    database: DatabaseDep, tenant: TenantDep, channel: ChannelName, chat_id: ChatId
) -> ReadOut:
    """Mark a chat read: its unread count goes to 0."""

    def mark() -> None:
        with database.unit_of_work() as uow:
            row = channel_row(uow.connection, tenant, channel)
            if not reads.mark_read(uow.connection, row.id, chat_id):
                raise HTTPException(404, f"no chat {chat_id!r}")
            uow.commit()

    await run_in_threadpool(mark)
    return ReadOut(chat_id=chat_id)


@router.get("/contacts", tags=["contacts"], response_model=Page[ContactOut])
async def list_contacts(
    database: DatabaseDep, tenant: TenantDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[ContactOut]:
    """The tenant's contacts (one per person, across channels)."""
    after = cursors.decode_id(cursor)
    rows = await run_read(
        database, lambda c: reads.contacts_page(c, tenant.id, limit=limit, after=after)
    )
    items = [ContactOut.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.get("/events", tags=["events"], response_model=Page[EventOut])
async def list_events(
    database: DatabaseDep,
    tenant: TenantDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    channel: Annotated[
        str | None, Query(max_length=100, description="Only this channel's events")
    ] = None,
) -> Page[EventOut]:
    """The tenant's outbox events in order, for integrators: keep the last `next_cursor` and
    poll with it (an empty page keeps the cursor)."""
    after = cursors.decode_id(cursor)

    def page(connection: Connection) -> list[Any]:
        channel_id = channel_row(connection, tenant, channel).id if channel else None
        return reads.events_page(
            connection, tenant.id, limit=limit, after=after, channel_id=channel_id
        )

    rows = await run_read(database, page)
    items = [EventOut.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, next_cursor=str(rows[-1].id) if rows else cursor)
