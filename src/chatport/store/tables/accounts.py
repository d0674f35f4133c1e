"""Tenants, their API keys and their channels (one WhatsApp number behind one WAHA session each)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from chatport.store.column_types import Id, UtcDateTime
from chatport.store.tables.base import metadata, timestamps

tenants = Table(
    "tenants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("session_timeout_seconds", Integer),
    *timestamps(),
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
    *timestamps(),
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
