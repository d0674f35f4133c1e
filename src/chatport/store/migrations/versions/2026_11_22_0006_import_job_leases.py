"""import job leases

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Who runs a job (`owner`) and when it last said so (`heartbeat_at`): a job is resumed by one
process at a time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("owner", sa.String(length=128), nullable=True))
    op.add_column(
        "import_jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild of `import_jobs`
    # would drop the table and cascade into `import_job_chats`
    op.drop_column("import_jobs", "heartbeat_at")
    op.drop_column("import_jobs", "owner")
