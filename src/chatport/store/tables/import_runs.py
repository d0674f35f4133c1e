"""Import jobs (and catch-ups) and their finished chats."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, Uuid, text

from chatport.store.column_types import Id, Json, UtcDateTime
from chatport.store.tables.base import metadata, timestamps

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", Json, nullable=False),
    Column("since", UtcDateTime),
    Column("until", UtcDateTime),
    Column("counters", Json, nullable=False),
    Column("error", Text),
    *timestamps(),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("owner", String(128)),
    Column("heartbeat_at", UtcDateTime),
    Column("kind", String(16), nullable=False, server_default="import"),
    Index("ix_import_jobs_channel_id_created_at", "channel_id", "created_at"),
    Index(
        "ux_import_jobs_running_catch_up",
        "channel_id",
        unique=True,
        sqlite_where=text("kind = 'catch-up' AND status = 'running'"),
        postgresql_where=text("kind = 'catch-up' AND status = 'running'"),
    ),
)
"""`owner` (the run's `host/pid/random` token) and `heartbeat_at` make a lease: a running job is
claimed again only once its heartbeat is stale (`store.jobs.claim_job`). `kind`: `import` (asked
for) or `catch-up` (what an outage missed, `ingest.catch_up`), at most one running per channel."""

import_job_chats = Table(
    "import_job_chats",
    metadata,
    Column("job_id", Uuid, ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("chat_id", String(128), primary_key=True),
    Column("status", String(8), nullable=False),
    Column("error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""An import job's finished chats, one row each: `done` (every message committed) or
`failed` (with its last error; `retry` fetches it again). Written with the chunk that
finishes the chat, so a checkpoint costs the same at the 10,000th chat as at the first."""
