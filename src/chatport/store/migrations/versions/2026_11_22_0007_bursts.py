"""bursts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

Bursts of inbound live messages per chat, the burst of each agent job, and per-channel
debounce windows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "bursts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_ids", JSON, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_bursts_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bursts")),
    )
    op.create_index("ix_bursts_status_channel_id", "bursts", ["status", "channel_id"])
    op.create_index(
        "ux_bursts_open_chat",
        "bursts",
        ["channel_id", "chat_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.add_column("agent_jobs", sa.Column("burst_id", sa.Uuid(), nullable=True))
    op.create_index("ux_agent_jobs_burst_id", "agent_jobs", ["burst_id"], unique=True)
    op.add_column("channels", sa.Column("debounce_quiet_ms", sa.Integer(), nullable=True))
    op.add_column("channels", sa.Column("debounce_max_wait_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("channels", "debounce_max_wait_ms")
    op.drop_column("channels", "debounce_quiet_ms")
    op.drop_index("ux_agent_jobs_burst_id", table_name="agent_jobs")
    op.drop_column("agent_jobs", "burst_id")
    op.drop_index("ux_bursts_open_chat", table_name="bursts")
    op.drop_index("ix_bursts_status_channel_id", table_name="bursts")
    op.drop_table("bursts")
