"""The REST API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from chatport.api.params import TextBody
from chatport.domain.normalise import InvalidValue, normalise_jid
from chatport.outbound import tenant_url_form

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page; pass `next_cursor` as `cursor` for the next (null: no more)."""

    items: list[T]
    next_cursor: str | None = None


class ChannelSettings(TextBody):
    """A channel's settings (see `ChannelIn`, `ChannelPatch`)."""

    waha_url: str | None = Field(default=None, max_length=2000, description="WAHA's base URL")
    waha_session: str | None = Field(
        default=None, max_length=100, description="WAHA session name (default: the name)"
    )
    waha_api_key: str | None = Field(default=None, max_length=500)
    session_timeout_minutes: float | None = Field(default=None, gt=0, le=60 * 24 * 365)
    webhook_hmac_key: str | None = Field(default=None, min_length=1, max_length=500)
    agent_url: str | None = Field(
        default=None,
        max_length=2000,
        description="The AI agent's URL: live inbound bursts become agent jobs posted there",
    )
    debounce_quiet_ms: int | None = Field(default=None, gt=0, le=3_600_000)
    debounce_max_wait_ms: int | None = Field(default=None, gt=0, le=86_400_000)
    agent_groups: bool | None = Field(
        default=None,
        description="Agent jobs in group chats, per (chat, participant) (null: "
        "CHATPORT_AGENT_GROUPS)",
    )
    handoff_minutes: int | None = Field(
        default=None,
        ge=1,
        le=60 * 24 * 30,
        description="How long a human's reply pauses the bot in a chat (null: "
        "CHATPORT_HANDOFF_MINUTES)",
    )

    @field_validator("waha_url", "agent_url")
    @classmethod
    def _tenant_url(cls, url: str | None) -> str | None:
        """http(s) only: in-process agents are the operator's (their hosts are checked by the
        route, `outbound.check_tenant_url`)."""
        return tenant_url_form(url) if url else None


class ChannelIn(ChannelSettings):
    """A channel to create: one WhatsApp number behind one WAHA session."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")


class ChannelPatch(ChannelSettings):
    """Settings to change: only those given change; null puts a setting back to its default
    (no WAHA URL, key or agent; the tenant's or the global session timeout, debounce windows,
    group policy and handoff window; `waha_session`: the channel's name)."""


class TenantOut(BaseModel):
    name: str
    session_timeout_minutes: float | None = Field(
        description="The session timeout of the tenant's channels without their own (null: "
        "CHATPORT_SESSION_TIMEOUT_MINUTES)"
    )


class TenantPatch(BaseModel):
    session_timeout_minutes: float | None = Field(
        default=None,
        gt=0,
        le=60 * 24 * 365,
        description="Minutes (null: CHATPORT_SESSION_TIMEOUT_MINUTES)",
    )


class DeletedOut(BaseModel):
    deleted: dict[str, int] = Field(description="Rows deleted, by table")


class ChannelOut(BaseModel):
    name: str
    waha_url: str | None
    waha_session: str
    me_id: str | None
    status: str | None
    session_timeout_minutes: float | None
    webhook_signed: bool = Field(description="Whether the channel has its own webhook key")
    has_agent: bool = Field(description="Whether the channel names its own agent")
    debounce_quiet_ms: int | None
    debounce_max_wait_ms: int | None
    agent_groups: bool | None = None
    handoff_minutes: int | None = None
    created_at: datetime


class ChatOut(BaseModel):
    chat_id: str
    name: str | None
    is_group: bool
    last_message_at: datetime | None
    last_message_text: str | None
    last_sender: str | None
    unread_count: int
    bot: str = Field(default="on", description="The chat's bot: `on`, `off` or `paused`")
    bot_paused_until: datetime | None = None


class MessageOut(BaseModel):
    id: str = Field(description="The source's message id")
    chat_id: str
    session_id: UUID
    sent_at: datetime
    from_me: bool
    author: str | None = Field(description="WhatsApp id of an inbound message's author")
    author_name: str | None = Field(default=None, description="The author's name, when known")
    content_type: str
    text: str | None
    media_url: str | None
    media_mime: str | None
    media_filename: str | None
    media_size: int | None = None
    origin: str
    ack: int | None
    revoked_at: datetime | None
    edited_at: datetime | None
    edits: list[dict[str, Any]] | None
    send_state: str | None = Field(
        default=None,
        description="For a message chatport sends (an agent's reply, a human's from the CRM): "
        "`pending`, `sent` (its id is WAHA's) or `failed` (after the last attempt; retry it); "
        "null for others",
    )
    send_error: str | None = Field(
        default=None, description="Why the last attempt to send it failed"
    )


class SessionOut(BaseModel):
    id: UUID
    started_at: datetime
    last_activity_at: datetime
    message_count: int
    status: str


class ContactOut(BaseModel):
    id: int
    wa_id: str
    phone: str | None
    lid: str | None
    name: str | None


class EventOut(BaseModel):
    id: int
    type: str
    channel: str | None
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    created_at: datetime


class ReadOut(BaseModel):
    chat_id: str
    unread_count: int = 0


FAILED_SHOWN = 100


class ImportIn(BaseModel):
    """What to import: the whole history, the last `days`, or `since`..`until`."""

    days: int | None = Field(default=None, ge=1, le=36500)
    since: datetime | None = None
    until: datetime | None = None
    concurrency: int = Field(default=4, ge=1, le=64)
    page_size: int = Field(default=500, ge=1, le=5000)
    chunk_size: int | None = Field(
        default=None,
        ge=1,
        le=50_000,
        description="Messages per transaction (default: 10,000 on PostgreSQL, 5,000 on SQLite)",
    )
    fetchers: int = Field(default=2, ge=1, le=16)
    chat_id: str | None = Field(
        default=None,
        max_length=128,
        description="Import only this chat's history (e.g. 5511999999999@c.us or a group id); "
        "WAHA is only read, the live connection is left alone",
    )

    @model_validator(mode="after")
    def _one_start(self) -> ImportIn:
        if self.chat_id is not None:
            try:
                self.chat_id = normalise_jid(self.chat_id)
            except InvalidValue as invalid:
                raise ValueError(f"chat_id: {invalid}") from None
        if self.days and self.since:
            raise ValueError("give days or since, not both")
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("since and until need a time zone (e.g. 2026-01-31T00:00Z)")
        return self


class ImportOut(BaseModel):
    id: UUID
    channel: str
    kind: str = Field(
        default="import", description="`import` (asked for) or `catch-up` (what an outage missed)"
    )
    status: str = Field(
        description="running, completed, failed_chats, interrupted, failed, cancelled, or "
        "stalled (running, but its run is gone: no heartbeat for 60 s; resume it)"
    )
    since: datetime | None
    until: datetime | None
    counters: dict[str, int]
    failed_chats: dict[str, str] = Field(description=f"The first {FAILED_SHOWN} failed chats")
    error: str | None
    hint: str | None = Field(default=None, description="What to do about a stalled job")
    running_here: bool = Field(description="Whether this server process is running it")
    created_at: datetime | None
    finished_at: datetime | None
