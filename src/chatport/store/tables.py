"""The schema, as SQLAlchemy Core tables. Other tools read these tables: keep them stable.

Every change here needs an Alembic revision in `store/migrations/versions`; a test compares
the migrated database with this metadata on both back ends.

The hot tables (`messages`, `sessions`, `events`) carry no foreign keys: chatport's write path
is their only writer and keeps them consistent, and a foreign-key check per row would cost the
bulk paths a large share of their speed. Their reference columns are indexed for joins.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)

from chatport.domain.keys import MAX_KEY_LENGTH
from chatport.store.column_types import Id, Json, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamps() -> list[Column]:
    return [
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    ]


tenants = Table(
    "tenants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("session_timeout_seconds", Integer),
    *_timestamps(),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100)),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)
"""API keys: a tenant's credentials for the REST API. Only the SHA-256 of a key is stored
(keys are 256-bit random, so a plain hash is enough); `prefix` names it in listings."""

channels = Table(
    "channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("waha_url", Text),
    Column("waha_session", String(100), nullable=False),
    Column("waha_api_key", Text),  # `fernet:…` when sealed (store/secret_box.py), else clear
    Column("me_id", String(64)),
    Column("status", String(32)),
    Column("session_timeout_seconds", Integer),
    Column("webhook_hmac_key", Text),  # as `waha_api_key`
    Column("agent_url", Text),
    *_timestamps(),
    Column("debounce_quiet_ms", Integer),
    Column("debounce_max_wait_ms", Integer),
    Column("waha_url_trusted", Boolean, nullable=False, server_default=false()),
    Column("handoff_minutes", Integer),
    Column("agent_groups", Boolean),
    UniqueConstraint("tenant_id", "name", name="uq_channels_tenant_id_name"),
    Index("ix_channels_waha_session", "waha_session"),
)
"""One WhatsApp number behind one WAHA session. `waha_url_trusted`: the operator gave the WAHA
URL (`chatport import waha`), not a tenant (`POST /v1/channels`), so it may lead anywhere; a
tenant's URLs are reached as `outbound.py` says. `agent_url` is always a tenant's.
`handoff_minutes` and `agent_groups` override `CHATPORT_HANDOFF_MINUTES` and
`CHATPORT_AGENT_GROUPS` for the channel (null: the setting)."""

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("wa_id", String(128), nullable=False),
    Column("phone", String(32)),
    Column("lid", String(128)),
    Column("name", Text),
    *_timestamps(),
    UniqueConstraint("tenant_id", "wa_id", name="uq_contacts_tenant_id_wa_id"),
    Index("ix_contacts_tenant_id_lid", "tenant_id", "lid"),
    Index("ix_contacts_tenant_id_phone", "tenant_id", "phone"),
)

chats = Table(
    "chats",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("is_group", Boolean, nullable=False),
    Column("name", Text),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("last_message_at", UtcDateTime),
    Column("last_message_id", String(256)),
    Column("last_message_text", Text),
    Column("last_sender", String(128)),
    Column("unread_count", Integer, nullable=False, server_default="0"),
    *_timestamps(),
    Column("bot", String(16)),
    Column("bot_paused_until", UtcDateTime),
    Column("last_human_at", UtcDateTime),
    UniqueConstraint("channel_id", "chat_id", name="uq_chats_channel_id_chat_id"),
    Index("ix_chats_channel_id_last_message_at", "channel_id", "last_message_at"),
)
"""`bot`: the chat's bot switch, `off` (no agent jobs) or null (on, unless `bot_paused_until`
is ahead: a human answered, the handoff window). `last_human_at`: when a human last wrote in
the chat as the channel (from the phone, or from the CRM)."""

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Id, nullable=False),
    Column("channel_id", Id, nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_activity_at", UtcDateTime, nullable=False),
    Column("message_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    *_timestamps(),
    Index("ix_sessions_chat_activity", "channel_id", "chat_id", "last_activity_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("channel_id", Id, nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("message_key", String(MAX_KEY_LENGTH), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("contact_id", Id),
    Column("session_id", Uuid, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("from_me", Boolean, nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("text", Text),
    Column("media_url", Text),
    Column("media_mime", String(255)),
    Column("media_filename", Text),
    Column("media_size", BigInteger),
    Column("origin", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ack", SmallInteger),
    Column("revoked_at", UtcDateTime),
    Column("edited_at", UtcDateTime),
    Column("edits", Json),
    Column("raw_block", Id),
    Column("raw_line", SmallInteger),
    UniqueConstraint("channel_id", "message_key", name="uq_messages_channel_id_message_key"),
    Index("ix_messages_chat_sent_at", "channel_id", "chat_id", "sent_at"),
    Index("ix_messages_session_id", "session_id"),
    Index("ix_messages_contact_id", "contact_id"),
)
"""`message_key` is a message's identity in its channel whatever alias a source named its
chat by (`domain.keys`: `{fromMe}_{chat}_{WhatsApp id}`, the chat the phone chat once known);
`external_id` is the source's own id, verbatim (WAHA's, Baileys' in WAHA's form, an export's
`export-…`), by which webhooks, agent jobs and the API name a message. It has no index (one
less to maintain on every insert): a message named by it is found by the keys it names
(`store.write_path.message_keys.keys_of_ids`). The source's payload is not in the row:
`raw_block` and `raw_line` say where it is in `message_raws` (both null: it has none)."""

message_raws = Table(
    "message_raws",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, nullable=False),
    Column("codec", String(8), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_message_raws_channel_id", "channel_id"),
)
"""The source payloads of messages, by block (`store.raw_archive`): `data` is the `lines`
payloads (JSON texts, one per line) of up to 1,024 messages written together, compressed as
`codec` says (`zstd`: Zstandard). Written once with its messages, never changed; deleted
with its channel."""

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", Json, nullable=False),
    Column("since", UtcDateTime),
    Column("until", UtcDateTime),
    Column("counters", Json, nullable=False),
    Column("error", Text),
    *_timestamps(),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("owner", String(128)),
    Column("heartbeat_at", UtcDateTime),
    Column("kind", String(16), nullable=False, server_default="import"),
    Index("ix_import_jobs_channel_id_created_at", "channel_id", "created_at"),
    Index(
        "ux_import_jobs_running_catch_up",
        "channel_id",
        unique=True,
        sqlite_where=text("kind = 'catch-up' AND status = 'running'"),
        postgresql_where=text("kind = 'catch-up' AND status = 'running'"),
    ),
)
"""`owner` (the run's `host/pid/random` token) and `heartbeat_at` make a lease: a running job is
claimed again only once its heartbeat is stale (`store.jobs.claim_job`). `kind`: `import` (asked
for) or `catch-up` (what an outage missed, `ingest.catch_up`), at most one running per channel."""

import_job_chats = Table(
    "import_job_chats",
    metadata,
    Column("job_id", Uuid, ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("chat_id", String(128), primary_key=True),
    Column("status", String(8), nullable=False),
    Column("error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""An import job's finished chats, one row each: `done` (every message committed) or
`failed` (with its last error; `retry` fetches it again). Written with the chunk that
finishes the chat, so a checkpoint costs the same at the 10,000th chat as at the first."""

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
    *_timestamps(),
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
    *_timestamps(),
    Index("ix_outbound_messages_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_outbound_messages_channel_id_chat_id", "channel_id", "chat_id"),
)
"""Messages chatport sends through WAHA (an agent's reply, a human's from the CRM), one row per
`messages` row (`message_id`, its `id`): the message is history at once, its sending is this
row. `state`: `pending` (due at `next_attempt_at`), `sending` (leased by `lease_token`), `sent`
(`sent_id` is WAHA's id, the message's `external_id` since), `failed` (after the last attempt,
with `error`; a retry from the API puts it back to pending). `author`: who in the CRM wrote
it (an API key's name)."""

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("channel_id", Id),
    Column("type", String(64), nullable=False),
    Column("aggregate_type", String(32), nullable=False),
    Column("aggregate_id", String(256), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Index("ix_events_tenant_id_id", "tenant_id", "id"),
    Index("ix_events_undelivered", "delivered_at", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id),
    Column("channel_id", Id),
    Column("source", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("external_id", String(256)),
    Column("payload", Text),
    Column("received_at", UtcDateTime, nullable=False),
    Column("retried_at", UtcDateTime),
    Column("payload_bytes", BigInteger),
    Column("payload_sha256", String(64)),
    Index("ix_dead_letters_received_at", "received_at"),
    Index("ix_dead_letters_channel_id_id", "channel_id", "id"),
)
"""What was refused, with the reason: at most the first 64 KiB of it (`payload`, NUL
characters as U+FFFD), its length in bytes and its SHA-256 (hex). The edge keeps at most
`CHATPORT_DEAD_LETTERS_PER_CHANNEL` per channel (those of no channel count as one)."""

lid_mappings = Table(
    "lid_mappings",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("lid", String(128), primary_key=True),
    Column("wa_id", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_lid_mappings_channel_id_wa_id", "channel_id", "wa_id"),
)
"""A channel's `@lid` -> phone JID (`…@c.us`) mapping, from WAHA's `/lids` (read by every
import) and from payloads that carry both: the live path resolves LIDs with it."""

webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("envelope_id", String(64), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_webhook_receipts_received_at", "received_at"),
)
"""Webhook deliveries already handled, by WAHA's envelope id (stable across its retries),
written in the transaction of their effect: a delivery seen twice acts once."""

STABLE_TABLES = (
    "tenants",
    "api_keys",
    "channels",
    "contacts",
    "chats",
    "sessions",
    "messages",
    "message_raws",
    "import_jobs",
    "import_job_chats",
    "agent_jobs",
    "events",
    "dead_letters",
    "webhook_receipts",
    "lid_mappings",
    "bursts",
    "outbound_messages",
)
