"""media size

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

The size in bytes of a message's media, when its source says (WAHA and Baileys
`fileLength`, the file in an export's zip).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("media_size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "media_size")
