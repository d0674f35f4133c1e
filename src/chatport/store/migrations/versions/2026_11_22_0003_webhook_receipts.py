"""webhook receipts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

WAHA delivers webhooks at least once; `webhook_receipts` keeps the envelope ids handled.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("envelope_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_webhook_receipts_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "envelope_id", name=op.f("pk_webhook_receipts")),
    )
    op.create_index("ix_webhook_receipts_received_at", "webhook_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_receipts_received_at", table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
