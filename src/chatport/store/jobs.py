"""Import jobs in `import_jobs`: created, checkpointed in the chunk's own transaction, finished.

`checkpoint` runs inside the transaction that writes a chunk, so a job's `checkpoint` lists
exactly the chats whose every message is committed, and its counters match the rows: a job
killed at any point resumes from there without losing or doubling anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, desc, insert, select, update

from chatport.domain.model import BatchResult
from chatport.errors import NotFoundError
from chatport.store.tables import import_jobs


@dataclass
class ImportJob:
    """An import job as stored."""

    id: UUID
    channel_id: int
    source: str
    status: str
    params: dict[str, Any]
    since: datetime | None
    until: datetime | None
    counters: dict[str, int]
    chats_done: set[str] = field(default_factory=set)
    failed_chats: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def create_job(
    connection: Connection,
    *,
    tenant_id: int,
    channel_id: int,
    source: str,
    params: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
) -> ImportJob:
    """A new running job."""
    now = datetime.now(UTC)
    job_id = uuid.uuid4()
    connection.execute(
        insert(import_jobs).values(
            id=job_id,
            tenant_id=tenant_id,
            channel_id=channel_id,
            source=source,
            status="running",
            params=params,
            since=since,
            until=until,
            counters={},
            checkpoint={"chats_done": []},
            failed_chats={},
            created_at=now,
            updated_at=now,
            started_at=now,
        )
    )
    return load_job(connection, job_id)


def load_job(connection: Connection, job_id: UUID | str) -> ImportJob:
    """A job by id (a unique prefix of its id works too)."""
    query = select(import_jobs)
    text = str(job_id)
    if len(text) < 36:
        matches = [
            row
            for row in connection.execute(query.order_by(desc(import_jobs.c.created_at)))
            if str(row.id).startswith(text)
        ]
        if len(matches) != 1:
            raise NotFoundError(f"no single import job matches {text!r}")
        row = matches[0]
    else:
        row = connection.execute(query.where(import_jobs.c.id == UUID(text))).one_or_none()
        if row is None:
            raise NotFoundError(f"no import job {text}")
    return _job(row)


def latest_jobs(connection: Connection, limit: int = 10) -> list[ImportJob]:
    """The newest jobs first."""
    rows = connection.execute(
        select(import_jobs).order_by(desc(import_jobs.c.created_at)).limit(limit)
    )
    return [_job(row) for row in rows]


@dataclass(frozen=True)
class Checkpoint:
    """A job's progress once a chunk commits."""

    counters: dict[str, int]
    chats_done: set[str]
    failed_chats: dict[str, str]

    def adopt(self, job: ImportJob) -> None:
        """Make `job` (in memory) what the committed checkpoint says."""
        job.counters, job.chats_done, job.failed_chats = (
            self.counters,
            self.chats_done,
            self.failed_chats,
        )


def checkpoint(
    connection: Connection,
    job: ImportJob,
    result: BatchResult,
    chats_done: Iterable[str],
    failed: dict[str, str],
) -> Checkpoint:
    """Store the job's progress with a chunk (call inside the chunk's transaction). `job` is
    left as it was: `adopt` the returned checkpoint once the transaction commits, so a
    transaction that is rolled back and retried counts its chunk once."""
    counters = dict(job.counters)
    for name, value in result.as_dict().items():
        counters[name] = counters.get(name, 0) + value
    done = job.chats_done | set(chats_done)
    failed_chats = {chat: error for chat, error in job.failed_chats.items() if chat not in done}
    failed_chats.update(failed)
    connection.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job.id)
        .values(
            counters=counters,
            checkpoint={"chats_done": sorted(done)},
            failed_chats=failed_chats,
            updated_at=datetime.now(UTC),
        )
    )
    return Checkpoint(counters, done, failed_chats)


def finish_job(
    connection: Connection, job: ImportJob, status: str, error: str | None = None
) -> None:
    """Set the final (or interrupted) status of a job."""
    now = datetime.now(UTC)
    job.status, job.error = status, error
    connection.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job.id)
        .values(
            status=status,
            error=error,
            updated_at=now,
            finished_at=now if status != "running" else None,
        )
    )


def reopen_job(connection: Connection, job: ImportJob) -> None:
    """Mark a job running again (resume, retry)."""
    finish_job(connection, job, "running")


def _job(row: Any) -> ImportJob:
    return ImportJob(
        id=row.id,
        channel_id=row.channel_id,
        source=row.source,
        status=row.status,
        params=dict(row.params),
        since=row.since,
        until=row.until,
        counters=dict(row.counters),
        chats_done=set(row.checkpoint.get("chats_done", [])),
        failed_chats=dict(row.failed_chats),
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
