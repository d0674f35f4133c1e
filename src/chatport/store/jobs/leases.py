"""Import job leases: one run at a time per job.

A running job's row names its run (`owner`: `host/pid/random`) and when the run last said it
was alive (`heartbeat_at`, renewed by `heartbeat` every `HEARTBEAT_EVERY` and by every
checkpoint). `claim_job` takes a job that is not running, whose heartbeat is older than
`STALE_AFTER`, or whose run was a process of this host that is gone (a run killed here is
resumed at once); anything else is `JobBusy`. Writes of a run go through `leased`, so a run
whose job was claimed by another finds out at its next checkpoint or heartbeat
(`JobTakenOver`; `JobCancelled` when the job was cancelled or its channel deleted) and writes
nothing more. A cancelled job is never claimed again.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

from sqlalchemy import Connection, Update, or_, select, update

from chatport.errors import JobBusy, JobCancelled, JobTakenOver
from chatport.store.tables import import_jobs


class Leasable(Protocol):
    """What a lease needs of a job: its id, and the owner and heartbeat it was read with."""

    id: UUID
    status: str
    error: str | None
    owner: str | None
    heartbeat_at: datetime | None


HEARTBEAT_EVERY = timedelta(seconds=10)
STALE_AFTER = timedelta(seconds=60)
CANCELLED = "cancelled"
"""The status of a cancelled job: final, its run stops at its next checkpoint or heartbeat."""


def claim_job(connection: Connection, job: Leasable, owner: str | None = None) -> None:
    """Lease `job` to the caller (as `owner`, default: a new token of this process) and mark
    it running (resume, retry); `JobBusy` when another process runs it: its heartbeat is
    younger than `STALE_AFTER` and, when that process is on this machine, it is still alive
    (a run killed here is taken over at once); `JobCancelled` when it was cancelled."""
    now = datetime.now(UTC)
    if job.status == CANCELLED:
        raise JobCancelled(f"import job {job.id} was cancelled; start a new import")
    owner = owner or new_owner()
    free = or_(
        import_jobs.c.status != "running",
        import_jobs.c.heartbeat_at.is_(None),
        import_jobs.c.heartbeat_at < now - STALE_AFTER,
    )
    if job.owner is not None and _died_here(job.owner):
        free = or_(free, import_jobs.c.owner == job.owner)
    claimed = connection.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job.id, import_jobs.c.status != CANCELLED, free)
        .values(
            status="running",
            error=None,
            finished_at=None,
            updated_at=now,
            owner=owner,
            heartbeat_at=now,
        )
    )
    if claimed.rowcount != 1:
        if _status(connection, job) in (None, CANCELLED):
            raise lease_lost(connection, job)
        seconds = (now - job.heartbeat_at).total_seconds() if job.heartbeat_at else 0.0
        raise JobBusy(
            f"import job {job.id} is running in another process ({job.owner}; its last "
            f"heartbeat was {seconds:.0f} s ago, and a job is taken over after "
            f"{STALE_AFTER.seconds} s without one)"
        )
    job.status, job.error, job.owner, job.heartbeat_at = "running", None, owner, now


def new_owner() -> str:
    """A run's token: `host/pid/random`, so a run that died on this host is recognised."""
    return f"{socket.gethostname()[:80]}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def _died_here(owner: str) -> bool:
    """Whether `owner` is a run of this host whose process is gone."""
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname()[:80] or not (pid_text.isascii() and pid_text.isdigit()):
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process: its own run is not dead (the API checks its runner)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def heartbeat(connection: Connection, job: Leasable) -> None:
    """Renew the caller's lease of `job`; `JobTakenOver` when another process claimed it."""
    now = datetime.now(UTC)
    if connection.execute(leased(job).values(heartbeat_at=now)).rowcount != 1:
        raise lease_lost(connection, job)
    job.heartbeat_at = now


def lease_lost(connection: Connection, job: Leasable) -> JobTakenOver:
    """What to raise when the caller's lease of `job` is gone: JobCancelled when the job was
    cancelled or deleted (with its channel), else JobTakenOver (another run claimed it)."""
    if _status(connection, job) in (None, CANCELLED):
        return JobCancelled(f"import job {job.id} was cancelled")
    return JobTakenOver(f"import job {job.id} was claimed by another process")


def _status(connection: Connection, job: Leasable) -> str | None:
    query = select(import_jobs.c.status).where(import_jobs.c.id == job.id)
    return connection.execute(query).scalar_one_or_none()


def leased(job: Leasable) -> Update:
    """An UPDATE of `job` that only applies while the caller still holds its lease."""
    return update(import_jobs).where(import_jobs.c.id == job.id, import_jobs.c.owner == job.owner)


def stalled(job: Leasable, now: datetime | None = None) -> bool:
    """Whether `job` says `running` but its run is gone: no heartbeat for `STALE_AFTER` (its
    process died or lost the database). Not for Temporal runs, whose workflow outlives any
    process (Temporal retries their activities elsewhere)."""
    if job.status != "running" or getattr(job, "params", {}).get("engine") == "temporal":
        return False
    now = now or datetime.now(UTC)
    return job.heartbeat_at is None or job.heartbeat_at < now - STALE_AFTER


def shown_status(job: Leasable, now: datetime | None = None) -> str:
    """The status to show: the stored one, `stalled` for a running job whose run is gone
    (`chatport import resume JOB` takes it over)."""
    return "stalled" if stalled(job, now) else job.status


STALLED_HINT = "its run is gone (no heartbeat for {seconds} s): chatport import resume {job}"
"""What to tell about a stalled job (`.format(seconds=..., job=...)`)."""
