"""Console pages: channels, a channel's chats, a conversation, agent jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from chatport.api import cursors
from chatport.api.console import views
from chatport.api.console.auth import ConsoleTenant, SameOrigin
from chatport.api.console.render import ConsoleError, render
from chatport.api.deps import DatabaseDep, SettingsDep
from chatport.api.params import ChannelName, ChatId, Cursor
from chatport.api.routers.channels import run_read
from chatport.store.jobs import agent_jobs
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs.bot import state_of
from chatport.store.reads import api as reads
from chatport.store.reads import console
from chatport.store.tenants import Tenant

router = APIRouter(include_in_schema=False)
CHATS_PER_PAGE = 50
MESSAGES_PER_PAGE = 200
AGENT_JOB_STATUSES = ("pending", "delivering", "waiting", "replied", "failed", "skipped")


def channel_of(connection: Connection, tenant: Tenant, name: str) -> Any:
    """The tenant's channel `name` (an error page for another tenant's or none)."""
    row = reads.tenant_channel(connection, tenant.id, name)
    if row is None:
        raise ConsoleError(404, f"There is no channel {name!r}.")
    return row


def last_import(connection: Connection, tenant: Tenant, channel_id: int) -> Any | None:
    """The channel's newest import job, if it has any."""
    latest = jobs.latest_jobs(connection, 1, tenant_id=tenant.id, channel_id=channel_id)
    return latest[0] if latest else None


def chat_path(channel: str, chat_id: str) -> str:
    """The console address of a conversation."""
    return f"/channels/{quote(channel, safe='')}/chats/{quote(chat_id, safe='@')}"


def _cursor(cursor: str | None) -> Any:
    try:
        return cursors.decode_time_and_id(cursor)
    except Exception:  # noqa: BLE001 - decode raises the API's 400
        raise ConsoleError(400, "That page link is not valid.") from None


@router.get("/", response_class=HTMLResponse)
async def channels_page(request: Request, database: DatabaseDep, tenant: ConsoleTenant) -> Response:
    def read(connection: Connection) -> dict[str, Any]:
        rows = reads.tenant_channels(connection, tenant.id)
        return {
            "channels": rows,
            "summaries": console.channel_summaries(connection, tenant.id),
            "last_imports": {row.id: last_import(connection, tenant, row.id) for row in rows},
        }

    return render(request, "channels.html", **await run_read(database, read))


@router.get("/channels/{channel}", response_class=HTMLResponse)
async def chats_page(
    request: Request,
    database: DatabaseDep,
    tenant: ConsoleTenant,
    settings: SettingsDep,
    channel: ChannelName,
    q: Annotated[str, Query(max_length=100)] = "",
    unread: bool = False,
    cursor: Cursor = None,
) -> Response:
    before = _cursor(cursor)
    search = views.search_terms(q, settings.default_region) if q.strip() else None

    def read(connection: Connection) -> dict[str, Any]:
        row = channel_of(connection, tenant, channel)
        found = reads.chats_page(
            connection,
            row.id,
            limit=CHATS_PER_PAGE,
            unread_only=unread,
            before=before,
            search=search,
        )
        return {
            "channel": row,
            "chats": found,
            "last_import": last_import(connection, tenant, row.id),
        }

    page = await run_read(database, read)
    rows = page["chats"]
    last = rows[-1] if len(rows) == CHATS_PER_PAGE else None
    next_cursor = cursors.encode(last.activity, last.id) if last else None
    now = datetime.now(UTC)
    return render(
        request,
        "chats.html",
        bot_of=lambda chat: state_of(chat, now),
        q=q,
        unread=unread,
        next_cursor=next_cursor,
        paged=bool(cursor),
        **page,
    )


@router.get("/channels/{channel}/chats/{chat_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request,
    database: DatabaseDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    chat_id: ChatId,
    cursor: Cursor = None,
) -> Response:
    before = _cursor(cursor)

    def read(connection: Connection) -> dict[str, Any]:
        row = channel_of(connection, tenant, channel)
        chat = console.chat_row(connection, row.id, chat_id)
        if chat is None:
            raise ConsoleError(404, f"Channel {channel!r} has no chat {chat_id!r}.")
        newest_first = reads.messages_page(
            connection,
            row.id,
            chat_id,
            limit=MESSAGES_PER_PAGE,
            before=before,
            text_limit=views.TEXT_SHOWN + 1,  # one more: the page can say it is truncated
        )
        ids = {message.session_id for message in newest_first if message.session_id}
        return {
            "channel": row,
            "chat": chat,
            "bot": state_of(chat, datetime.now(UTC)),
            "messages": newest_first,
            "sessions": console.sessions_by_id(connection, row.id, ids),
        }

    page = await run_read(database, read)
    newest_first = page.pop("messages")
    last = newest_first[-1] if len(newest_first) == MESSAGES_PER_PAGE else None
    groups = views.group_by_session(reversed(newest_first), page.pop("sessions"))
    return render(
        request,
        "conversation.html",
        groups=groups,
        earlier=cursors.encode(last.sent_at, last.id) if last else None,
        paged=bool(cursor),
        media_label=views.media_label,
        **page,
    )


@router.post("/channels/{channel}/chats/{chat_id}/read", dependencies=[SameOrigin])
async def mark_chat_read(
    database: DatabaseDep, tenant: ConsoleTenant, channel: ChannelName, chat_id: ChatId
) -> Response:
    def mark() -> None:
        with database.unit_of_work() as uow:
            row = channel_of(uow.connection, tenant, channel)
            if not reads.mark_read(uow.connection, row.id, chat_id):
                raise ConsoleError(404, f"Channel {channel!r} has no chat {chat_id!r}.")
            uow.commit()

    await run_in_threadpool(mark)
    return RedirectResponse(chat_path(channel, chat_id), status_code=303)


@router.get("/agent-jobs", response_class=HTMLResponse)
async def agent_jobs_page(
    request: Request,
    database: DatabaseDep,
    tenant: ConsoleTenant,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    if status is not None and status not in AGENT_JOB_STATUSES:
        status = None

    def read(connection: Connection) -> dict[str, Any]:
        found = agent_jobs.list_jobs(connection, tenant_id=tenant.id, status=status, limit=100)
        names = reads.channel_names(connection, tenant.id)
        bubbles: dict[tuple[int, str], Any] = {}
        for channel_id in {job.channel_id for job in found}:
            ids = {i for job in found if job.channel_id == channel_id for i in job.message_ids}
            for external_id, row in console.messages_by_external_id(
                connection, channel_id, ids, views.TEXT_SHOWN + 1
            ).items():
                bubbles[channel_id, external_id] = row
        return {"jobs": found, "channel_names": names, "bubbles": bubbles}

    page = await run_read(database, read)
    return render(request, "agent_jobs.html", status=status, statuses=AGENT_JOB_STATUSES, **page)
