"""A chat's conversation over the API, beyond reading it (`channels.py`): a human's message
from the CRM, its bot switch, and sending a failed message again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from chatport.agent.humans import NoWahaToSend, write_as_human
from chatport.api.auth import TenantDep
from chatport.api.deps import DatabaseDep, DelivererDep, SettingsDep
from chatport.api.params import ChannelName, ChatId, TextBody
from chatport.api.responses import ERRORS
from chatport.settings import Settings
from chatport.store.database import Database
from chatport.store.jobs import bot, outbound
from chatport.store.reads import api as reads
from chatport.store.tenants import Tenant

router = APIRouter(prefix="/v1", tags=["chats"], responses=ERRORS)
MessageId = Annotated[
    str, Path(min_length=1, max_length=256, description="The message's id (`id` in lists)")
]


class MessageIn(TextBody):
    text: str = Field(min_length=1, max_length=4096, description="What to send")


class SendOut(BaseModel):
    id: str = Field(description="The message's id")
    send_state: str = Field(description="`pending`, `sent` or `failed`")


def write(
    database: Database, settings: Settings, tenant: Tenant, channel: str, chat_id: str, text: str
) -> str:
    """Store a human's message to be sent (404: no such channel or chat; 409: the channel has
    no WAHA); its id."""
    with database.engine.connect() as connection:
        row = reads.tenant_channel(connection, tenant.id, channel)
        if row is None or not reads.chat_exists(connection, row.id, chat_id):
            raise HTTPException(404, f"no chat {chat_id!r} in channel {channel!r}")
    try:
        written = write_as_human(
            database,
            row.id,
            chat_id,
            text,
            author=tenant.name,
            handoff=timedelta(minutes=settings.handoff_minutes),
            has_waha=bool(row.waha_url),
        )
    except NoWahaToSend as refused:
        raise HTTPException(409, str(refused)) from None
    return written.id


@router.post(
    "/channels/{channel}/chats/{chat_id}/messages", status_code=202, response_model=SendOut
)
async def send_message(
    database: DatabaseDep,
    settings: SettingsDep,
    deliverer: DelivererDep,
    tenant: TenantDep,
    channel: ChannelName,
    chat_id: ChatId,
    body: MessageIn,
) -> SendOut:
    """A human's message from the CRM: stored in the chat at once (origin `human`), sent
    through the channel's WAHA by the server within the channel's send rate (its `send_state`
    says how that goes), and the chat's bot paused for the handoff window. 409 when the channel
    has no WAHA."""
    sent = await run_in_threadpool(write, database, settings, tenant, channel, chat_id, body.text)
    deliverer.wake()
    return SendOut(id=sent, send_state=outbound.PENDING)


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


class BotOut(BaseModel):
    mode: str = Field(description="`on`, `off` or `paused` (until `paused_until`)")
    paused_until: datetime | None = Field(description="When a paused bot answers again")
    last_human_at: datetime | None = Field(
        description="When a human last wrote in the chat as the channel (phone or CRM)"
    )


class BotIn(BaseModel):
    mode: Literal["on", "off", "paused"] = Field(
        description="`on`; `off` (no agent job until switched on); `paused` until `until`"
    )
    until: datetime | None = Field(
        default=None, description="With `paused`: when the bot answers again (in the future)"
    )

    @model_validator(mode="after")
    def _until_with_paused(self) -> BotIn:
        if self.mode == "paused":
            if self.until is None or self.until.tzinfo is None:
                raise ValueError("`paused` needs `until`, a time with its zone")
            if self.until <= datetime.now(UTC):
                raise ValueError("`until` is past")
        elif self.until is not None:
            raise ValueError("`until` goes with `paused` only")
        return self


def _bot_out(state: bot.BotState) -> BotOut:
    return BotOut(
        mode=state.mode, paused_until=state.paused_until, last_human_at=state.last_human_at
    )


def chat_bot(
    database: Database, tenant: Tenant, channel: str, chat_id: str, change: BotIn | None = None
) -> bot.BotState:
    """The chat's bot, after `change` when given (404: no such channel or chat)."""
    with database.unit_of_work() as uow:
        row = reads.tenant_channel(uow.connection, tenant.id, channel)
        if row is None or not reads.chat_exists(uow.connection, row.id, chat_id):
            raise HTTPException(404, f"no chat {chat_id!r} in channel {channel!r}")
        if change is not None:
            bot.set_bot(uow.connection, row.id, chat_id, change.mode, change.until)
        state = bot.bot_state(uow.connection, row.id, chat_id, datetime.now(UTC))
        uow.commit()
    return state


@router.get("/channels/{channel}/chats/{chat_id}/bot", response_model=BotOut)
async def get_bot(
    database: DatabaseDep, tenant: TenantDep, channel: ChannelName, chat_id: ChatId
) -> BotOut:
    """The chat's bot: on, off, or paused until a time (a human answered: the handoff)."""
    return _bot_out(await run_in_threadpool(chat_bot, database, tenant, channel, chat_id))


@router.put("/channels/{channel}/chats/{chat_id}/bot", response_model=BotOut)
async def set_bot(
    database: DatabaseDep, tenant: TenantDep, channel: ChannelName, chat_id: ChatId, body: BotIn
) -> BotOut:
    """Switch the chat's bot `on`, `off`, or `paused` until `until`."""
    state = await run_in_threadpool(chat_bot, database, tenant, channel, chat_id, body)
    return _bot_out(state)
