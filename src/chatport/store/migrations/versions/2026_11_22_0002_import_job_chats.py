"""import job chats in their own table

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

An import job's done and failed chats move from two JSON columns of `import_jobs`
(`checkpoint.chats_done`, `failed_chats`), rewritten whole by every chunk, to one row per chat
in `import_job_chats`. Existing jobs keep their chats; their counts go into `counters`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    jobs = sa.table(
        "import_jobs",
        sa.column("id", sa.Uuid()),
        sa.column("counters", JSON),
        sa.column("checkpoint", JSON),
        sa.column("failed_chats", JSON),
    )
    connection = op.get_bind()
    existing = connection.execute(sa.select(jobs)).all()
    # Before the new table exists: on SQLite the batch rebuild drops `import_jobs`, which
    # would cascade to rows referring to it.
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("checkpoint")
        batch.drop_column("failed_chats")
    job_chats = op.create_table(
        "import_job_chats",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_job_chats_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "chat_id", name=op.f("pk_import_job_chats")),
    )
    now = datetime.now(UTC)
    for job_id, counters, checkpoint, failed in existing:
        counters, checkpoint, failed = (_loaded(v) for v in (counters, checkpoint, failed))
        done = set(checkpoint.get("chats_done", []))
        failed = {chat: error for chat, error in failed.items() if chat not in done}
        rows = [(chat, "done", None) for chat in sorted(done)]
        rows += [(chat, "failed", error) for chat, error in sorted(failed.items())]
        if rows:
            op.bulk_insert(
                job_chats,
                [
                    {
                        "job_id": job_id,
                        "chat_id": chat,
                        "status": status,
                        "error": error,
                        "updated_at": now,
                    }
                    for chat, status, error in rows
                ],
            )
        counters = {**counters, "chats_done": len(done), "chats_failed": len(failed)}
        connection.execute(sa.update(jobs).where(jobs.c.id == job_id).values(counters=counters))


def downgrade() -> None:
    jobs = sa.table(
        "import_jobs",
        sa.column("id", sa.Uuid()),
        sa.column("checkpoint", JSON),
        sa.column("failed_chats", JSON),
    )
    job_chats = sa.table(
        "import_job_chats",
        sa.column("job_id", sa.Uuid()),
        sa.column("chat_id", sa.String()),
        sa.column("status", sa.String()),
        sa.column("error", sa.Text()),
    )
    connection = op.get_bind()
    chats: dict = {}
    for job_id, chat_id, status, error in connection.execute(sa.select(job_chats)).all():
        done, failed = chats.setdefault(job_id, ([], {}))
        if status == "done":
            done.append(chat_id)
        else:
            failed[chat_id] = error
    op.drop_table("import_job_chats")
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("checkpoint", JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("failed_chats", JSON, nullable=False, server_default="{}"))
    for job_id, (done, failed) in chats.items():
        connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(checkpoint={"chats_done": sorted(done)}, failed_chats=failed)
        )


def _loaded(value):
    return json.loads(value) if isinstance(value, str) else (value or {})
