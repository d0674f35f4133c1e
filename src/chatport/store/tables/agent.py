"""The agent loop: bursts of inbound messages, agent jobs, and the messages chatport sends."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, Uuid, text

from chatport.store.column_types import Id, Json, UtcDateTime
from chatport.store.tables.base import metadata, timestamps

agent_jobs = Table(
    "agent_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("contact_id", Id),
    Column("session_id", Uuid),
    Column("message_ids", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime),
    Column("reply", Text),
    Column("error", Text),
    *timestamps(),
    Column("burst_id", Uuid),
    Column("lease_token", Uuid),
    Column("participant", String(128)),
    Index("ix_agent_jobs_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ux_agent_jobs_burst_id", "burst_id", unique=True),
)
"""Work for the AI agent: one row per closed burst (`burst_id` unique: never two jobs for one
burst), its messages' ids in order. `lease_token` names the claim that holds the job: every
outcome is written only by the holder of the token it was claimed with."""

bursts = Table(
    "bursts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Id, nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message_ids", Json, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Column("taken_over_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("participant", String(128), nullable=False, server_default=""),
    Index("ix_bursts_status_channel_id", "status", "channel_id"),
    Index(
        "ux_bursts_open_chat",
        "channel_id",
        "chat_id",
        "participant",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)
"""Bursts of inbound live messages per chat (`domain.bursts`): at most one open per chat and
`participant` (a group member's id in groups whose channel lets agents answer groups, else "");
`opened_at` / `last_at` are when its first and latest messages arrived (server time), or the
contact last started typing."""

outbound_messages = Table(
    "outbound_messages",
    metadata,
    Column("message_id", Id, primary_key=True, autoincrement=False),
    Column("tenant_id", Id, nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("agent_job_id", Uuid),
    Column("author", String(100)),
    Column("text", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime),
    Column("lease_token", Uuid),
    Column("error", Text),
    Column("sent_id", String(256)),
    *timestamps(),
    Index("ix_outbound_messages_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_outbound_messages_channel_id_chat_id", "channel_id", "chat_id"),
)
"""Messages chatport sends through WAHA (an agent's reply, a human's from the CRM), one row per
`messages` row (`message_id`, its `id`): the message is history at once, its sending is this
row. `state`: `pending` (due at `next_attempt_at`), `sending` (leased by `lease_token`), `sent`
(`sent_id` is WAHA's id, the message's `external_id` since), `failed` (after the last attempt,
with `error`; a retry from the API puts it back to pending). `author`: who in the CRM wrote
it (an API key's name)."""
