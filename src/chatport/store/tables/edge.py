"""What the edge keeps: events, dead letters, the LID -> phone mappings and the webhook
receipts.

`events` is a hot table: no foreign keys (see `tables/__init__.py`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text

from chatport.store.column_types import Id, Json, UtcDateTime
from chatport.store.tables.base import metadata

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
