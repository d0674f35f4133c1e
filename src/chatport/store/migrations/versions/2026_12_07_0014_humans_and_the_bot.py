"""humans and the bot

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08

Outbound messages with their send state (an agent's reply, a human's from the CRM); each
chat's bot switch, handoff pause and last human reply; per-channel handoff window and group
policy; bursts per (chat, participant) and the participant of a job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "outbound_messages",
        sa.Column("message_id", ID, autoincrement=False, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("agent_job_id", sa.Uuid(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_id", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_outbound_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_outbound_messages")),
    )
    op.create_index(
        "ix_outbound_messages_state_next_attempt_at",
        "outbound_messages",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        "ix_outbound_messages_channel_id_chat_id", "outbound_messages", ["channel_id", "chat_id"]
    )
    # plain ALTER TABLE (SQLite >= 3.35 drops columns too): a batch would copy `channels`, and
    # dropping the old copy cascades to every table that references it
    op.add_column("chats", sa.Column("bot", sa.String(length=16), nullable=True))
    op.add_column("chats", sa.Column("bot_paused_until", sa.DateTime(timezone=True)))
    op.add_column("chats", sa.Column("last_human_at", sa.DateTime(timezone=True)))
    op.add_column("channels", sa.Column("handoff_minutes", sa.Integer(), nullable=True))
    op.add_column("channels", sa.Column("agent_groups", sa.Boolean(), nullable=True))
    op.add_column("agent_jobs", sa.Column("participant", sa.String(length=128), nullable=True))
    op.add_column(
        "bursts",
        sa.Column("participant", sa.String(length=128), server_default="", nullable=False),
    )
    op.drop_index("ux_bursts_open_chat", table_name="bursts")
    op.create_index(
        "ux_bursts_open_chat",
        "bursts",
        ["channel_id", "chat_id", "participant"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ux_bursts_open_chat", table_name="bursts")
    op.create_index(
        "ux_bursts_open_chat",
        "bursts",
        ["channel_id", "chat_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.drop_column("bursts", "participant")
    op.drop_column("agent_jobs", "participant")
    op.drop_column("channels", "agent_groups")
    op.drop_column("channels", "handoff_minutes")
    op.drop_column("chats", "last_human_at")
    op.drop_column("chats", "bot_paused_until")
    op.drop_column("chats", "bot")
    op.drop_index("ix_outbound_messages_channel_id_chat_id", table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_state_next_attempt_at", table_name="outbound_messages")
    op.drop_table("outbound_messages")
