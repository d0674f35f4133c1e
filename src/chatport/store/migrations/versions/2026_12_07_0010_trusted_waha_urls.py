"""trusted WAHA URLs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Whether a channel's WAHA URL was given by the operator (`chatport import waha`) rather than by
a tenant (`POST /v1/channels`): only the operator's may lead to loopback or private addresses
without `CHATPORT_ALLOW_PRIVATE_URLS`. Existing channels start untrusted (who gave their URL is
not known): run `chatport import waha --url …` again, or allow private URLs, for a WAHA on a
private network.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "channels",
        sa.Column("waha_url_trusted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("channels", "waha_url_trusted")
