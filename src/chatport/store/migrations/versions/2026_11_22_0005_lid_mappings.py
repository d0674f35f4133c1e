"""lid mappings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

A channel's `@lid` -> phone JID mapping, stored for the live path.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lid_mappings",
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("lid", sa.String(length=128), nullable=False),
        sa.Column("wa_id", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_lid_mappings_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "lid", name=op.f("pk_lid_mappings")),
    )


def downgrade() -> None:
    op.drop_table("lid_mappings")
