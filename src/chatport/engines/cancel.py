"""Cancel import jobs on whichever engine runs them, and delete a channel with everything of
it (its imports cancelled first).

The store is what stops a run: a cancelled job has no owner, so its run, wherever it is (a
thread of this server, a CLI process, a Temporal activity), finds its lease gone at its next
checkpoint or heartbeat and writes nothing more (`store.jobs.cancels`). What is done here
besides only makes it quicker: a run in this process is told at once (`ImportRunner.stop`),
a Temporal workflow is cancelled (its activities would fail with `JobCancelled` anyway, which
no retry policy retries).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from uuid import UUID

from chatport.domain.model import Engine
from chatport.engines.inprocess.runner import ImportRunner
from chatport.ingest.import_jobs import engine_of
from chatport.services import Services
from chatport.store import channel_admin
from chatport.store.jobs import cancels
from chatport.store.jobs import import_jobs as jobs

logger = logging.getLogger(__name__)
RUN_STOP_SECONDS = 30.0
"""How long a channel's deletion waits for each import run (of this process, or a Temporal
workflow) to stop before it deletes the rows anyway (a chunk still in flight then fails at
its checkpoint)."""


def cancel_import(
    services: Services,
    job_id: UUID | str,
    *,
    reason: str = "cancelled",
    runner: ImportRunner | None = None,
    temporal_address: str | None = None,
) -> jobs.ImportJob:
    """Cancel the job (status `cancelled`, final) and stop its run; the job as stored.
    NotFoundError for no such job, `JobEnded` when it has ended."""
    with services.database.unit_of_work() as uow:
        job = cancels.cancel_job(uow.connection, job_id, reason)
        uow.commit()
    stop_runs(services, [job], runner=runner, temporal_address=temporal_address)
    return job


def stop_runs(
    services: Services,
    cancelled: Iterable[jobs.ImportJob],
    *,
    runner: ImportRunner | None = None,
    temporal_address: str | None = None,
    wait_seconds: float = 0,
) -> None:
    """Tell the runs of cancelled jobs to stop now: in this process (`runner`), on Temporal
    (best effort: the store has stopped them already; their workflows waited for up to
    `wait_seconds`)."""
    on_temporal = []
    for job in cancelled:
        if runner is not None:
            runner.stop(job.id)
        if engine_of(job) is Engine.TEMPORAL:
            on_temporal.append(job.id)
    if on_temporal:
        _cancel_workflows(services, on_temporal, temporal_address, wait_seconds)


def _cancel_workflows(
    services: Services, job_ids: list[UUID], address: str | None, wait_seconds: float
) -> None:
    try:
        from chatport.engines.temporal import starter
    except ModuleNotFoundError:  # no temporalio here: the activities stop on their own
        return
    target = starter.TemporalTarget.of(services.settings, address)

    async def cancel_all() -> None:
        for job_id in job_ids:
            await starter.cancel_workflow(target, job_id, wait_seconds)

    try:
        asyncio.run(asyncio.wait_for(cancel_all(), timeout=15 + wait_seconds * len(job_ids)))
    except Exception as error:  # noqa: BLE001 - best effort: the store stopped them already
        logger.warning("could not cancel the Temporal workflows of %s: %s", job_ids, error)


def delete_channel(
    services: Services,
    channel_id: int,
    *,
    runner: ImportRunner | None = None,
    temporal_address: str | None = None,
) -> dict[str, int]:
    """Cancel the channel's imports, wait (a while) for their runs here to stop, then delete
    the channel and every row of it in one transaction (retried after deadlocks with a
    chunk still in flight, which its checkpoint rolls back). Rows deleted by table."""
    database = services.database
    reason = "its channel was deleted"
    with database.unit_of_work() as uow:
        cancelled = cancels.cancel_channel_jobs(uow.connection, channel_id, reason)
        uow.commit()
    stop_runs(
        services,
        cancelled,
        runner=runner,
        temporal_address=temporal_address,
        wait_seconds=RUN_STOP_SECONDS,
    )
    _join(runner, cancelled)
    for uow in database.transactions():
        with uow:
            late = cancels.cancel_channel_jobs(uow.connection, channel_id, reason)  # meanwhile
            deleted = channel_admin.purge_channel(uow.connection, channel_id)
            uow.commit()
    stop_runs(services, late, runner=runner, temporal_address=temporal_address)
    _join(runner, late)
    logger.info("channel %s deleted: %s", channel_id, deleted)
    return deleted


def _join(runner: ImportRunner | None, cancelled: list[jobs.ImportJob]) -> None:
    """Wait (a while) for the runs of `cancelled` jobs in this process to end."""
    if runner is None:
        return
    for job in cancelled:
        if not runner.join(job.id, RUN_STOP_SECONDS):
            logger.warning("import job %s still runs; deleting its channel anyway", job.id)
