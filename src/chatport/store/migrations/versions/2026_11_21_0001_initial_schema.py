"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21

The ten stable tables, and the default tenant and channel (both named `default`; the
channel answers to WAHA session `default`) so the CLI works without set-up.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", ID, nullable=True),
        sa.Column("channel_id", ID, nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_type", sa.String(length=32), nullable=False),
        sa.Column("aggregate_id", sa.String(length=256), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_tenant_id_id", "events", ["tenant_id", "id"], unique=False)
    op.create_index("ix_events_undelivered", "events", ["delivered_at", "id"], unique=False)
    op.create_table(
        "messages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_me", sa.Boolean(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("media_mime", sa.String(length=255), nullable=True),
        sa.Column("media_filename", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("raw", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("channel_id", "external_id", name="uq_messages_channel_id_external_id"),
    )
    op.create_index(
        "ix_messages_chat_sent_at", "messages", ["channel_id", "chat_id", "sent_at"], unique=False
    )
    op.create_index("ix_messages_contact_id", "messages", ["contact_id"], unique=False)
    op.create_index("ix_messages_session_id", "messages", ["session_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(
        "ix_sessions_chat_activity",
        "sessions",
        ["channel_id", "chat_id", "last_activity_at"],
        unique=False,
    )
    op.create_table(
        "tenants",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("session_timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "channels",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("waha_url", sa.Text(), nullable=True),
        sa.Column("waha_session", sa.String(length=100), nullable=False),
        sa.Column("waha_api_key", sa.Text(), nullable=True),
        sa.Column("me_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("session_timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("webhook_hmac_key", sa.Text(), nullable=True),
        sa.Column("agent_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_channels_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_channels_tenant_id_name"),
    )
    op.create_index("ix_channels_waha_session", "channels", ["waha_session"], unique=False)
    op.create_table(
        "contacts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("wa_id", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("lid", sa.String(length=128), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contacts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("tenant_id", "wa_id", name="uq_contacts_tenant_id_wa_id"),
    )
    op.create_index("ix_contacts_tenant_id_lid", "contacts", ["tenant_id", "lid"], unique=False)
    op.create_index("ix_contacts_tenant_id_phone", "contacts", ["tenant_id", "phone"], unique=False)
    op.create_table(
        "agent_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("message_ids", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_agent_jobs_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agent_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_jobs")),
    )
    op.create_index(
        "ix_agent_jobs_status_next_attempt_at",
        "agent_jobs",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "chats",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("is_group", sa.Boolean(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_id", sa.String(length=256), nullable=True),
        sa.Column("last_message_text", sa.Text(), nullable=True),
        sa.Column("last_sender", sa.String(length=128), nullable=True),
        sa.Column("unread_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_chats_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_chats_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_chats_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
        sa.UniqueConstraint("channel_id", "chat_id", name="uq_chats_channel_id_chat_id"),
    )
    op.create_index(
        "ix_chats_channel_id_last_message_at",
        "chats",
        ["channel_id", "last_message_at"],
        unique=False,
    )
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counters", JSON, nullable=False),
        sa.Column("checkpoint", JSON, nullable=False),
        sa.Column("failed_chats", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_import_jobs_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_import_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index(
        "ix_import_jobs_channel_id_created_at",
        "import_jobs",
        ["channel_id", "created_at"],
        unique=False,
    )
    _seed_defaults()


def _seed_defaults() -> None:
    now = datetime.now(UTC)
    tenants = sa.table(
        "tenants",
        sa.column("id", ID),
        sa.column("name", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    channels = sa.table(
        "channels",
        sa.column("tenant_id", ID),
        sa.column("name", sa.String),
        sa.column("waha_session", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    tenant_id = bind.execute(
        tenants.insert()
        .values(name="default", created_at=now, updated_at=now)
        .returning(tenants.c.id)
    ).scalar_one()
    bind.execute(
        channels.insert().values(
            tenant_id=tenant_id,
            name="default",
            waha_session="default",
            created_at=now,
            updated_at=now,
        )
    )


def downgrade() -> None:
    op.drop_index("ix_import_jobs_channel_id_created_at", table_name="import_jobs")
    op.drop_table("import_jobs")
    op.drop_index("ix_chats_channel_id_last_message_at", table_name="chats")
    op.drop_table("chats")
    op.drop_index("ix_agent_jobs_status_next_attempt_at", table_name="agent_jobs")
    op.drop_table("agent_jobs")
    op.drop_index("ix_contacts_tenant_id_phone", table_name="contacts")
    op.drop_index("ix_contacts_tenant_id_lid", table_name="contacts")
    op.drop_table("contacts")
    op.drop_index("ix_channels_waha_session", table_name="channels")
    op.drop_table("channels")
    op.drop_table("tenants")
    op.drop_index("ix_sessions_chat_activity", table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_messages_session_id", table_name="messages")
    op.drop_index("ix_messages_contact_id", table_name="messages")
    op.drop_index("ix_messages_chat_sent_at", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_events_undelivered", table_name="events")
    op.drop_index("ix_events_tenant_id_id", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_dead_letters_received_at", table_name="dead_letters")
    op.drop_table("dead_letters")
