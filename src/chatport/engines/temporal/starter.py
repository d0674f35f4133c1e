"""Start an import job's workflow and follow it: progress from the workflow's `progress`
query, the final status from its result (or, when it failed, from the job's row)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from chatport.domain.progress import ImportProgress, at_start
from chatport.engines.temporal import workflow_id
from chatport.engines.temporal.inputs import ImportInput, JobOutcome, Retries
from chatport.engines.temporal.workflows import ImportWorkflow
from chatport.errors import ConfigurationError, JobBusy, NotFoundError
from chatport.services import Services
from chatport.settings import Settings
from chatport.store.jobs import import_jobs as jobs

_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class TemporalTarget:
    """Where import workflows run."""

    address: str
    namespace: str
    task_queue: str

    @classmethod
    def of(cls, settings: Settings, address: str | None = None) -> TemporalTarget:
        """The target of `settings`, `address` overriding theirs."""
        return cls(
            address or settings.temporal_address,
            settings.temporal_namespace,
            settings.temporal_task_queue,
        )


def new_owner() -> str:
    """A lease token for one Temporal run of a job (its activities write only with it)."""
    return f"temporal/{uuid4().hex}"


def workflow_input(
    settings: Settings, job_id: str, owner: str, only_chats: set[str] | None
) -> ImportInput:
    """The workflow's input from `settings`."""
    return ImportInput(
        job_id=job_id,
        owner=owner,
        only_chats=sorted(only_chats) if only_chats is not None else None,
        chats_per_activity=settings.temporal_chats_per_activity,
        max_parallel=settings.temporal_max_parallel,
        heartbeat_seconds=settings.temporal_heartbeat_seconds,
        list_page=settings.temporal_list_page,
        history_limit=settings.temporal_history_limit,
        retries=Retries(
            initial_seconds=settings.temporal_retry_initial_seconds,
            maximum_seconds=settings.temporal_retry_maximum_seconds,
            attempts=settings.temporal_retry_attempts,
        ),
    )


async def connect(target: TemporalTarget) -> Client:
    """A client of the target; ConfigurationError with the address when none answers."""
    try:
        return await Client.connect(target.address, namespace=target.namespace)
    except RuntimeError as error:
        raise ConfigurationError(connect_error(target.address, error)) from None


def connect_error(address: str, error: BaseException) -> str:
    """What to tell a user whose Temporal did not answer."""
    return (
        f"no Temporal server at {address} ({error}); start one with `chatport temporal dev`, "
        "or give --temporal-address"
    )


async def ensure_not_running(client: Client, job_id: object) -> None:
    """JobBusy when the job's workflow is running (resume and retry start a new one)."""
    handle = client.get_workflow_handle(workflow_id(job_id))
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return
        raise
    if description.status == WorkflowExecutionStatus.RUNNING:
        raise JobBusy(f"import job {job_id} is running on Temporal ({workflow_id(job_id)})")


def run_on_temporal(
    services: Services,
    target: TemporalTarget,
    claim: Callable[[str], jobs.ImportJob],
    *,
    existing_job: UUID | None = None,
    retry: bool = False,
    timeout_minutes: float | None = None,
    on_progress: Callable[[ImportProgress], None] = lambda progress: None,
) -> tuple[jobs.ImportJob, str]:
    """Run a job on Temporal and wait for its end: `claim(owner)` creates or reopens the job
    leased to a new Temporal token (after checking, for an `existing_job`, that no workflow
    runs it), then its workflow starts (only the failed chats when `retry`) and its progress
    is reported until it ends. Returns the job (as claimed) and its final status. Once
    `timeout_minutes` have passed the workflow is cancelled (the job is `interrupted`)."""

    async def run() -> tuple[jobs.ImportJob, str]:
        client = await connect(target)
        if existing_job is not None:
            await ensure_not_running(client, existing_job)
        job = await asyncio.to_thread(claim, new_owner())
        chosen = job.params.get("chats")
        only_chats = set(job.failed_chats) if retry else set(chosen) if chosen else None
        status = await _follow(
            services, client, job, target, only_chats, timeout_minutes, on_progress
        )
        return job, status

    return asyncio.run(run())


async def _follow(
    services: Services,
    client: Client,
    job: jobs.ImportJob,
    target: TemporalTarget,
    only_chats: set[str] | None,
    timeout_minutes: float | None,
    on_progress: Callable[[ImportProgress], None],
) -> str:
    arguments = workflow_input(services.settings, str(job.id), job.owner, only_chats)
    arguments.progress = at_start(job.chats_done, only_chats)
    try:
        handle = await client.start_workflow(
            ImportWorkflow.run,
            arguments,
            id=workflow_id(job.id),
            task_queue=target.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise JobBusy(f"import job {job.id} is running on Temporal") from None
    deadline = time.monotonic() + timeout_minutes * 60 if timeout_minutes else None
    result = asyncio.ensure_future(handle.result())
    while not result.done():
        await asyncio.wait({result}, timeout=_POLL_SECONDS)
        try:
            query = ImportWorkflow.progress
            on_progress(await handle.query(query, rpc_timeout=timedelta(seconds=2)))
        except Exception:  # noqa: BLE001, S110 - no worker has it yet: no progress to show
            pass
        if deadline is not None and time.monotonic() > deadline and not result.done():
            await handle.cancel()
            deadline = None
    try:
        outcome: JobOutcome = result.result()
        return outcome.status
    except WorkflowFailureError:
        with services.database.engine.connect() as connection:
            try:
                return jobs.load_job(connection, job.id).status
            except NotFoundError:  # deleted with its channel
                return "cancelled"


async def cancel_workflow(target: TemporalTarget, job_id: object, wait_seconds: float = 0) -> bool:
    """Ask Temporal to cancel the job's workflow and wait up to `wait_seconds` for it to
    end; whether one was running (the job is cancelled in the store first: its activities
    stop on their own even without this)."""
    client = await connect(target)
    handle = client.get_workflow_handle(workflow_id(job_id))
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        await handle.cancel()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    if wait_seconds:
        with contextlib.suppress(Exception):  # cancelled, failed or past the wait: it is told
            await asyncio.wait_for(handle.result(), wait_seconds)
    return True


def exit_now(code: int) -> None:
    """Flush and leave without the interpreter's finalisers: temporalio's native runtime
    can crash at interpreter exit after all work succeeded (temporalio/sdk-python#300),
    which would turn a right exit code into a wrong one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
