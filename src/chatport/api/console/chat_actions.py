"""Console forms of a conversation: the chat's bot switch, send a failed message again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from chatport.api.console.auth import ConsoleTenant, SameOrigin
from chatport.api.console.pages import chat_path
from chatport.api.console.render import ConsoleError
from chatport.api.deps import DatabaseDep, DelivererDep, SettingsDep
from chatport.api.params import ChannelName, ChatId
from chatport.api.routers.conversations import BotIn, MessageId, chat_bot, retry

router = APIRouter(include_in_schema=False)


@router.post(
    "/channels/{channel}/chats/{chat_id}/messages/{message_id}/retry", dependencies=[SameOrigin]
)
async def retry_message(
    database: DatabaseDep,
    deliverer: DelivererDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    chat_id: ChatId,
    message_id: MessageId,
) -> Response:
    try:
        await run_in_threadpool(retry, database, tenant, channel, chat_id, message_id)
    except HTTPException as refused:
        reason = f"Cannot send it again: {refused.detail}."
        raise ConsoleError(refused.status_code, reason) from None
    deliverer.wake()
    return RedirectResponse(chat_path(channel, chat_id), status_code=303)


@router.post("/channels/{channel}/chats/{chat_id}/bot", dependencies=[SameOrigin])
async def switch_bot(
    database: DatabaseDep,
    settings: SettingsDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    chat_id: ChatId,
    mode: Annotated[str, Form(max_length=16)],
) -> Response:
    """`on`, `off`, or `paused` for the handoff window (as if a human had just answered)."""
    if mode not in ("on", "off", "paused"):
        raise ConsoleError(422, "The bot is on, off or paused.")
    until = None
    if mode == "paused":
        until = datetime.now(UTC) + timedelta(minutes=settings.handoff_minutes)
    try:
        await run_in_threadpool(
            chat_bot, database, tenant, channel, chat_id, BotIn(mode=mode, until=until)
        )
    except HTTPException as refused:
        raise ConsoleError(refused.status_code, f"{refused.detail}.") from None
    return RedirectResponse(chat_path(channel, chat_id), status_code=303)
