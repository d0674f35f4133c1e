"""agent job lease tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

The token of the claim that holds an agent job: a deliverer writes the job's outcome (and
stores or sends its reply) only while the job still carries the token it claimed it with, so a
deliverer whose lease ran out and was taken over writes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agent_jobs", sa.Column("lease_token", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("agent_jobs", "lease_token")
