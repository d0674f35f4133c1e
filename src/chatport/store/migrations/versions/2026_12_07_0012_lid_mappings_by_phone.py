"""lid mappings by phone

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

An index of the LID mapping by phone JID: a contact written by its phone after its pair was
learned gets its LID from the mapping in the same transaction.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lid_mappings_channel_id_wa_id", "lid_mappings", ["channel_id", "wa_id"])


def downgrade() -> None:
    op.drop_index("ix_lid_mappings_channel_id_wa_id", table_name="lid_mappings")
