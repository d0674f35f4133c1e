"""Cancelling import jobs, and the tenant's jobs a page at a time.

A cancel is a row update: the job becomes `cancelled` and loses its owner, so its run (in
this process, another one, or a Temporal activity) finds its lease gone at its next
checkpoint or heartbeat (`JobCancelled`), writes nothing more and is never claimed again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, and_, desc, or_, select, update

from chatport.errors import JobEnded
from chatport.store.jobs.import_jobs import ImportJob, _job, load_job
from chatport.store.jobs.leases import CANCELLED
from chatport.store.tables import import_jobs

CANCELLABLE = ("running", "interrupted")
"""The statuses a job can be cancelled from (a job that ended is not cancelled)."""


def cancel_job(connection: Connection, job_id: UUID | str, reason: str) -> ImportJob:
    """Cancel the job (a unique prefix of its id works too) and return it as now stored; a
    job cancelled already is returned as it is; JobEnded when it has ended."""
    job = load_job(connection, job_id, chats=())
    if job.status == CANCELLED:
        return job
    now = datetime.now(UTC)
    cancelled = connection.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job.id, import_jobs.c.status.in_(CANCELLABLE))
        .values(
            status=CANCELLED,
            error=reason,
            owner=None,
            heartbeat_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    if cancelled.rowcount != 1:
        status = load_job(connection, job.id, chats=()).status
        if status != CANCELLED:
            raise JobEnded(f"import job {job.id} is {status}: nothing to cancel")
    return load_job(connection, job.id)


def cancel_channel_jobs(connection: Connection, channel_id: int, reason: str) -> list[ImportJob]:
    """Cancel every running or interrupted job of the channel; the jobs cancelled."""
    query = select(import_jobs.c.id).where(
        import_jobs.c.channel_id == channel_id, import_jobs.c.status.in_(CANCELLABLE)
    )
    return [
        cancel_job(connection, job_id, reason) for job_id in connection.execute(query).scalars()
    ]


def jobs_page(
    connection: Connection,
    tenant_id: int,
    *,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[ImportJob]:
    """The tenant's jobs, newest first (then by id), after the page that ended at `before`
    (its last job's `created_at` and id); without their chats."""
    query = select(import_jobs).where(import_jobs.c.tenant_id == tenant_id)
    if before is not None:
        at, last = before
        query = query.where(
            or_(
                import_jobs.c.created_at < at,
                and_(import_jobs.c.created_at == at, import_jobs.c.id < last),
            )
        )
    query = query.order_by(desc(import_jobs.c.created_at), desc(import_jobs.c.id)).limit(limit)
    return [_job(row) for row in connection.execute(query)]
