"""Import jobs in `import_jobs` (and their finished chats in `import_job_chats`): created,
checkpointed in the chunk's own transaction, finished.

`checkpoint` runs inside the transaction that writes a chunk, so a job's done chats are
exactly the chats whose every message is committed, and its counters match the rows: a job
killed at any point resumes from there without losing or doubling anything. A checkpoint
writes the chunk's own chats and the job's counters, nothing that grows with the job.

A running job is leased to one run (`leases.py`): checkpoints and the final status are
written only while the run holds the lease.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, desc, insert, select

from chatport.domain.model import BatchResult
from chatport.errors import NotFoundError
from chatport.store.backends.bulk import BulkOps
from chatport.store.jobs.leases import lease_lost, leased, new_owner
from chatport.store.tables import import_job_chats, import_jobs

DONE, FAILED = "done", "failed"
"""The states of a chat in `import_job_chats`."""
IMPORT, CATCH_UP = "import", "catch-up"
"""The kinds of job: an import asked for, a catch-up of what an outage missed (at most one
running per channel; its checkpoints record failed chats only, so one that finds nothing new
writes nothing but its job's row)."""
_CHAT_COLUMNS = ("job_id", "chat_id", "status", "error", "updated_at")


@dataclass
class ImportJob:
    """An import job as stored (`chats_done` and `failed_chats` as `load_job` reads them)."""

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
    tenant_id: int | None = None
    owner: str | None = None
    heartbeat_at: datetime | None = None
    kind: str = IMPORT


def create_job(
    connection: Connection,
    *,
    tenant_id: int,
    channel_id: int,
    source: str,
    params: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
    owner: str | None = None,
    kind: str = IMPORT,
) -> ImportJob:
    """A new running job of `kind`, leased to the caller (as `owner`, default: this
    process). A second running catch-up of a channel violates a unique index."""
    now = datetime.now(UTC)
    job_id = uuid.uuid4()
    owner = owner or new_owner()
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
            created_at=now,
            updated_at=now,
            started_at=now,
            owner=owner,
            heartbeat_at=now,
            kind=kind,
        )
    )
    return load_job(connection, job_id)


def load_job(
    connection: Connection, job_id: UUID | str, *, chats: Iterable[str] | None = None
) -> ImportJob:
    """A job by id (a unique prefix of its id works too), with its done and failed chats
    (only those among `chats` when given: a run that covers a few chats of a large job)."""
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
    job = _job(row)
    for chat_id, status, error in _chat_rows(connection, job.id, chats):
        if status == DONE:
            job.chats_done.add(chat_id)
        else:
            job.failed_chats[chat_id] = error or ""
    return job


def latest_jobs(
    connection: Connection,
    limit: int = 10,
    *,
    tenant_id: int | None = None,
    channel_id: int | None = None,
) -> list[ImportJob]:
    """The newest jobs first (of a tenant, of a channel), without their chats (`counters`
    has how many are done and failed; `load_job` reads the chats)."""
    query = select(import_jobs).order_by(desc(import_jobs.c.created_at)).limit(limit)
    if tenant_id is not None:
        query = query.where(import_jobs.c.tenant_id == tenant_id)
    if channel_id is not None:
        query = query.where(import_jobs.c.channel_id == channel_id)
    rows = connection.execute(query)
    return [_job(row) for row in rows]


@dataclass(frozen=True)
class Checkpoint:
    """What a chunk's commit changes in its job."""

    counters: dict[str, int]
    done: list[str]
    failed: dict[str, str]

    def adopt(self, job: ImportJob) -> None:
        """Make `job` (in memory) what the committed checkpoint says; its counters only
        when they are newer than the job's (concurrent writers adopt in any order)."""
        if self.counters.get("checkpoints", 0) >= job.counters.get("checkpoints", 0):
            job.counters = self.counters
        job.chats_done.update(self.done)
        for chat in self.done:
            job.failed_chats.pop(chat, None)
        job.failed_chats.update(self.failed)


def checkpoint(
    connection: Connection,
    ops: BulkOps,
    job: ImportJob,
    result: BatchResult,
    chats_done: Iterable[str],
    failed: dict[str, str],
) -> Checkpoint:
    """Store the job's progress with a chunk (call inside the chunk's transaction). `job` is
    left as it was: `adopt` the returned checkpoint once the transaction commits, so a
    transaction that is rolled back and retried counts its chunk once."""
    done = [chat for chat in dict.fromkeys(chats_done) if chat not in failed]
    finished = [*done, *failed]
    # Read under a row lock: several runs may checkpoint one job at once (Temporal's chunk
    # activities), so counters add to what is committed, not to this run's copy.
    stored = connection.execute(
        select(import_jobs.c.counters)
        .where(import_jobs.c.id == job.id, import_jobs.c.owner == job.owner)
        .with_for_update()
    ).one_or_none()
    if stored is None:
        raise lease_lost(connection, job)
    before = {chat: status for chat, status, _ in _chat_rows(connection, job.id, finished)}
    counters = dict(stored.counters)
    for name, value in result.as_dict().items():
        counters[name] = counters.get(name, 0) + value
    counters["checkpoints"] = counters.get("checkpoints", 0) + 1
    counters["chats_done"] = (
        counters.get("chats_done", 0)
        + sum(before.get(chat) != DONE for chat in done)
        - sum(before.get(chat) == DONE for chat in failed)
    )
    counters["chats_failed"] = (
        counters.get("chats_failed", 0)
        + sum(before.get(chat) != FAILED for chat in failed)
        - sum(before.get(chat) == FAILED for chat in done)
    )
    now = datetime.now(UTC)
    replaced = [chat for chat in finished if chat in before]
    if replaced:
        connection.execute(
            delete(import_job_chats).where(
                import_job_chats.c.job_id == job.id, import_job_chats.c.chat_id.in_(replaced)
            )
        )
    job_id, stamp = ops.encode_uuid(job.id), ops.encode_time(now)
    rows = [(job_id, chat, FAILED, error, stamp) for chat, error in failed.items()]
    if job.kind != CATCH_UP:
        rows += [(job_id, chat, DONE, None, stamp) for chat in done]
    if rows:
        ops.insert_rows(connection, import_job_chats, _CHAT_COLUMNS, rows)
    updated = connection.execute(
        leased(job).values(counters=counters, updated_at=now, heartbeat_at=now)
    )
    if updated.rowcount != 1:
        raise lease_lost(connection, job)
    return Checkpoint(counters, done, dict(failed))


def settle(connection: Connection, job: ImportJob, *, chats: Iterable[str] | None = None) -> None:
    """Make `job` (in memory) what its committed checkpoints say (its chats among `chats`
    when given), once a checkpoint in flight, whose transaction holds the job's row, has
    committed or rolled back: for a job whose writers were stopped from outside (their
    processes killed, their last transactions left to the server to finish)."""
    lock = select(import_jobs.c.id).where(import_jobs.c.id == job.id).with_for_update()
    connection.execute(lock)
    stored = load_job(connection, job.id, chats=chats)
    job.counters, job.chats_done, job.failed_chats = (
        stored.counters,
        stored.chats_done,
        stored.failed_chats,
    )


def _chat_rows(
    connection: Connection, job_id: UUID, chats: Iterable[str] | None
) -> list[tuple[str, str, str | None]]:
    """(chat_id, status, error) of the job's finished chats (those among `chats` if given)."""
    table = import_job_chats
    query = select(table.c.chat_id, table.c.status, table.c.error).where(table.c.job_id == job_id)
    if chats is not None:
        chats = list(chats)
        if not chats:
            return []
        query = query.where(table.c.chat_id.in_(chats))
    return [tuple(row) for row in connection.execute(query)]


def finish_job(
    connection: Connection, job: ImportJob, status: str, error: str | None = None
) -> bool:
    """Set the final (or interrupted) status of a job; False when the caller's lease is
    gone (the job cancelled or claimed by another run: nothing is written)."""
    now = datetime.now(UTC)
    job.status, job.error = status, error
    finished = connection.execute(
        leased(job).values(
            status=status, error=error, updated_at=now, finished_at=now, heartbeat_at=None
        )
    )
    return finished.rowcount == 1


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
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        tenant_id=row.tenant_id,
        owner=row.owner,
        heartbeat_at=row.heartbeat_at,
        kind=row.kind,
    )
