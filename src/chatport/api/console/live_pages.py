"""Console conversations as they happen: the composer (a human's reply from the CRM) and the
server-sent events that keep a conversation and a chat list up to date (`api/feed.py`): each
event carries the HTML of a message or a chat row, rendered by the page's own templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import RedirectResponse, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from chatport.api.console import views
from chatport.api.console.auth import ConsoleTenant, SameOrigin
from chatport.api.console.pages import channel_of, chat_path
from chatport.api.console.render import ConsoleError, templates
from chatport.api.deps import DatabaseDep, DelivererDep, FeedDep, SettingsDep
from chatport.api.params import ChannelName, ChatId
from chatport.api.routers.channels import run_read
from chatport.api.routers.conversations import write
from chatport.store.jobs.bot import state_of
from chatport.store.reads import api as reads
from chatport.store.reads import console

router = APIRouter(include_in_schema=False)
PING_SECONDS = 15


@router.post("/channels/{channel}/chats/{chat_id}/messages", dependencies=[SameOrigin])
async def send_message(
    database: DatabaseDep,
    settings: SettingsDep,
    deliverer: DelivererDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    chat_id: ChatId,
    text: Annotated[str, Form(min_length=1, max_length=4096)],
) -> Response:
    if not text.strip() or "\x00" in text:
        raise ConsoleError(422, "Write something to send.")
    try:
        await run_in_threadpool(write, database, settings, tenant, channel, chat_id, text)
    except HTTPException as refused:
        raise ConsoleError(refused.status_code, f"Cannot send it: {refused.detail}.") from None
    deliverer.wake()
    return RedirectResponse(chat_path(channel, chat_id), status_code=303)


@router.get("/channels/{channel}/chats/{chat_id}/events")
async def conversation_events(
    database: DatabaseDep,
    feed: FeedDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    chat_id: ChatId,
) -> Response:
    """`message` events: `{"row", "html"}` of each new or changed message of the chat."""

    def chat(connection: Any) -> tuple[Any, Any]:
        row = channel_of(connection, tenant, channel)
        found = console.chat_row(connection, row.id, chat_id)
        if found is None:
            raise ConsoleError(404, f"Channel {channel!r} has no chat {chat_id!r}.")
        return row, found

    channel_row, chat_row = await run_read(database, chat)
    item = templates.env.get_template("_message.html").module.message_item
    watcher = await feed.subscribe(channel_row.id, chat_id)

    async def events() -> AsyncIterator[dict]:
        async for row_ids in feed.changes(watcher):
            rows = await run_read(
                database,
                lambda c, ids=row_ids: reads.messages_page(
                    c,
                    channel_row.id,
                    chat_id,
                    limit=len(ids),
                    ids=ids,
                    text_limit=views.TEXT_SHOWN + 1,
                ),
            )
            for row in reversed(rows):  # oldest first
                html = str(item(row, channel_row, chat_row, views.media_label))
                yield {"event": "message", "data": _json({"row": row.id, "html": html})}

    return EventSourceResponse(events(), ping=PING_SECONDS)


@router.get("/channels/{channel}/events")
async def chat_list_events(
    database: DatabaseDep, feed: FeedDep, tenant: ConsoleTenant, channel: ChannelName
) -> Response:
    """`chat` events: `{"chat", "html"}` of each chat of the channel with a new message."""
    channel_row = await run_read(database, lambda c: channel_of(c, tenant, channel))
    item = templates.env.get_template("_chat_row.html").module.chat_row
    watcher = await feed.subscribe(channel_row.id)

    async def events() -> AsyncIterator[dict]:
        async for chat_ids in feed.changes(watcher):
            rows = await run_read(
                database,
                lambda c, ids=chat_ids: reads.chats_page(
                    c, channel_row.id, limit=len(ids), chat_ids=ids
                ),
            )
            now = datetime.now(UTC)
            for row in reversed(rows):  # the most recent ends on top
                html = str(item(row, channel_row, state_of(row, now)))
                yield {"event": "chat", "data": _json({"chat": row.chat_id, "html": html})}

    return EventSourceResponse(events(), ping=PING_SECONDS)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
