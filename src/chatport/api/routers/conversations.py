"""A chat's conversation over the API, beyond reading it (`channels.py`): sending a failed
message again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from chatport.api.auth import TenantDep
from chatport.api.deps import DatabaseDep, DelivererDep
from chatport.api.params import ChannelName, ChatId
from chatport.api.responses import ERRORS
from chatport.store.database import Database
from chatport.store.jobs import outbound
from chatport.store.reads import api as reads
from chatport.store.tenants import Tenant

router = APIRouter(prefix="/v1", tags=["chats"], responses=ERRORS)
MessageId = Annotated[
    str, Path(min_length=1, max_length=256, description="The message's id (`id` in lists)")
]


class SendOut(BaseModel):
    id: str = Field(description="The message's id")
    send_state: str = Field(description="`pending`, `sent` or `failed`")


def retry(database: Database, tenant: Tenant, channel: str, chat_id: str, message: str) -> None:
    """Put a failed send back to pending (404: no such message chatport sends; 409: its send
    did not fail)."""
    with database.unit_of_work() as uow:
        row = reads.tenant_channel(uow.connection, tenant.id, channel)
        if row is None:
            raise HTTPException(404, f"no channel {channel!r}")
        send = outbound.find_send(uow.connection, row.id, chat_id, message)
        if send is None:
            raise HTTPException(404, f"no message {message!r} sent by chatport in this chat")
        if not outbound.retry_send(uow.connection, send.message_id, datetime.now(UTC)):
            raise HTTPException(409, f"its send is {outbound.SHOWN_STATES[send.state]}")
        uow.commit()


@router.post(
    "/channels/{channel}/chats/{chat_id}/messages/{message_id}/retry", response_model=SendOut
)
async def retry_message(
    database: DatabaseDep,
    deliverer: DelivererDep,
    tenant: TenantDep,
    channel: ChannelName,
    chat_id: ChatId,
    message_id: MessageId,
) -> SendOut:
    """Send a message whose send failed (an agent's reply, a CRM message) again: pending at
    once (409 when its send did not fail)."""
    await run_in_threadpool(retry, database, tenant, channel, chat_id, message_id)
    deliverer.wake()
    return SendOut(id=message_id, send_state=outbound.PENDING)
