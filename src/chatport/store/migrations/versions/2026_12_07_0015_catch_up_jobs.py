"""catch-up jobs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Import jobs get a kind: `import` (every job so far) or `catch-up` (what an outage of WAHA or
chatport missed); at most one catch-up runs per channel, which a partial unique index holds
across processes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

RUNNING_CATCH_UP = sa.text("kind = 'catch-up' AND status = 'running'")


def upgrade() -> None:
    op.add_column(
        "import_jobs",
        sa.Column("kind", sa.String(16), nullable=False, server_default="import"),
    )
    op.create_index(
        "ux_import_jobs_running_catch_up",
        "import_jobs",
        ["channel_id"],
        unique=True,
        sqlite_where=RUNNING_CATCH_UP,
        postgresql_where=RUNNING_CATCH_UP,
    )


def downgrade() -> None:
    op.drop_index("ux_import_jobs_running_catch_up", table_name="import_jobs")
    op.drop_column("import_jobs", "kind")
