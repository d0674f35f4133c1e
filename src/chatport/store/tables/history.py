"""The history: contacts, chats, sessions, messages and their raw payloads (`message_raws`).

`sessions` and `messages` are hot tables: no foreign keys (see `tables/__init__.py`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from chatport.domain.keys import MAX_KEY_LENGTH
from chatport.store.column_types import Id, Json, UtcDateTime
from chatport.store.tables.base import metadata, timestamps

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("wa_id", String(128), nullable=False),
    Column("phone", String(32)),
    Column("lid", String(128)),
    Column("name", Text),
    *timestamps(),
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
    *timestamps(),
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
    *timestamps(),
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
