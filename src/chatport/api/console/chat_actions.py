"""Console forms of a conversation: send a failed message again."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from chatport.api.console.auth import ConsoleTenant, SameOrigin
from chatport.api.console.pages import chat_path
from chatport.api.console.render import ConsoleError
from chatport.api.deps import DatabaseDep, DelivererDep
from chatport.api.params import ChannelName, ChatId
from chatport.api.routers.conversations import MessageId, retry

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
