"""webhook receipts and message states

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

WAHA delivers webhooks at least once; `webhook_receipts` keeps the envelope ids handled.
Messages get their live states: `ack` (WAHA's -1..4), `revoked_at`, `edited_at` and `edits`
(the earlier texts).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


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
    op.add_column("messages", sa.Column("ack", sa.SmallInteger(), nullable=True))
    op.add_column("messages", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("edits", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for column in ("edits", "edited_at", "revoked_at", "ack"):
            batch.drop_column(column)
    op.drop_index("ix_webhook_receipts_received_at", table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
