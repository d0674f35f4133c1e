"""bounded dead letters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Dead letters keep at most the first 64 KiB of what was refused, with its full length in
bytes and its SHA-256; an index by channel lets the per-channel cap drop the oldest.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("payload_bytes", sa.BigInteger(), nullable=True))
    op.add_column("dead_letters", sa.Column("payload_sha256", sa.String(64), nullable=True))
    op.create_index("ix_dead_letters_channel_id_id", "dead_letters", ["channel_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_channel_id_id", table_name="dead_letters")
    op.drop_column("dead_letters", "payload_sha256")
    op.drop_column("dead_letters", "payload_bytes")
