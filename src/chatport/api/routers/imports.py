"""Import jobs over the API: start a WAHA import of a channel in the background (the
in-process engine, in a thread of the server), follow it (status, an SSE progress stream),
retry its failed chats, resume it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from chatport.api import cursors
from chatport.api.auth import TenantDep
from chatport.api.deps import DatabaseDep, ImportRunnerDep, ServicesDep
from chatport.api.params import ChannelName, Cursor
from chatport.api.responses import ERRORS
from chatport.api.schemas import FAILED_SHOWN, ImportIn, ImportOut, Page
from chatport.engines import cancel
from chatport.engines.inprocess.runner import ImportRunner
from chatport.errors import (
    JobBusy,
    JobCancelled,
    JobEnded,
    NotFoundError,
    UrlRefused,
    WahaError,
)
from chatport.ingest import import_jobs
from chatport.ingest.waha.contact import first_contact
from chatport.services import Services
from chatport.store.channels import channel_by_id
from chatport.store.database import Database
from chatport.store.jobs import cancels, leases
from chatport.store.jobs import import_jobs as jobs
from chatport.store.reads import api as reads
from chatport.store.tenants import Tenant

router = APIRouter(prefix="/v1", tags=["imports"], responses=ERRORS)


def job_out(runner: ImportRunner, job: jobs.ImportJob, channel: str) -> ImportOut:
    """The job as the API shows it."""
    return _job_out(runner, job, channel)


def _job_out(runner: ImportRunner, job: jobs.ImportJob, channel: str) -> ImportOut:
    failed = dict(sorted(job.failed_chats.items())[:FAILED_SHOWN])
    status = leases.shown_status(job)
    hint = None
    if status == "stalled":
        seconds = int(leases.STALE_AFTER.total_seconds())
        hint = leases.STALLED_HINT.format(seconds=seconds, job=job.id)
    return ImportOut(
        id=job.id,
        channel=channel,
        kind=job.kind,
        status=status,
        hint=hint,
        since=job.since,
        until=job.until,
        counters=job.counters,
        failed_chats=failed,
        error=job.error,
        running_here=runner.running(job.id),
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def load_tenant_job(database: Database, tenant: Tenant, job_id: UUID) -> tuple[jobs.ImportJob, str]:
    """The tenant's job and its channel's name (404 for another tenant's or none)."""
    with database.engine.connect() as connection:
        try:
            job = jobs.load_job(connection, job_id)
        except NotFoundError:
            job = None
        if job is None or job.tenant_id != tenant.id:
            raise HTTPException(404, f"no import job {job_id}")
        channel = channel_by_id(connection, job.channel_id, database.default_timeout)
    return job, channel.name


@router.post("/channels/{channel}/imports", status_code=202, response_model=ImportOut)
async def start_import(
    database: DatabaseDep,
    runner: ImportRunnerDep,
    tenant: TenantDep,
    channel: ChannelName,
    body: ImportIn,
) -> ImportOut:
    """Start importing the channel's history from its WAHA (the channel needs `waha_url`)."""
    job = await begin_import(database, runner, tenant, channel, body)
    return _job_out(runner, job, channel)


async def begin_import(
    database: Database, runner: ImportRunner, tenant: Tenant, channel: str, body: ImportIn
) -> jobs.ImportJob:
    """A new import job of the tenant's `channel`, started in this process by `runner` (404
    for no such channel, 422 when it has no WAHA URL or its WAHA does not answer that the
    session works: unreachable, a wrong key, an unknown session; then no job is created)."""

    def create() -> jobs.ImportJob:
        with database.engine.connect() as connection:
            row = reads.tenant_channel(connection, tenant.id, channel)
            if row is None:
                raise HTTPException(404, f"no channel {channel!r}")
            if not row.waha_url:
                raise HTTPException(422, f"channel {channel!r} has no waha_url")
            target = channel_by_id(connection, row.id, database.default_timeout)
        _, waha = import_jobs.waha_of_channel(runner.services, target.id, body.page_size)
        try:
            first_contact(waha)
        except (WahaError, UrlRefused) as failure:
            raise HTTPException(422, str(failure)) from None
        now = datetime.now(UTC)
        since = now - timedelta(days=body.days) if body.days else body.since
        params = body.model_dump(include={"concurrency", "page_size", "chunk_size", "fetchers"})
        if body.chat_id is not None:
            params["chats"] = [body.chat_id]
        return import_jobs.create_job(database, target, since, body.until or now, params)

    job = await run_in_threadpool(create)
    runner.start(job)
    return job


@router.get("/imports", response_model=Page[ImportOut])
async def list_imports(
    database: DatabaseDep,
    runner: ImportRunnerDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 20,
    cursor: Cursor = None,
) -> Page[ImportOut]:
    """The tenant's import jobs, newest first."""
    before = cursors.decode_time_and_uuid(cursor)
    found = await run_in_threadpool(tenant_jobs, database, tenant, limit, before)
    last = found[-1][0] if len(found) == limit else None
    return Page(
        items=[_job_out(runner, job, name) for job, name in found],
        next_cursor=cursors.encode(last.created_at, last.id) if last else None,
    )


def tenant_jobs(
    database: Database, tenant: Tenant, limit: int, before: tuple[datetime, UUID] | None = None
) -> list[tuple[jobs.ImportJob, str]]:
    """The tenant's `limit` newest jobs (older than `before`), each with its channel's name."""
    with database.engine.connect() as connection:
        names = reads.channel_names(connection, tenant.id)
        found = cancels.jobs_page(connection, tenant.id, limit=limit, before=before)
    return [(job, names.get(job.channel_id, "")) for job in found]


@router.get("/imports/{job_id}", response_model=ImportOut)
async def get_import(
    database: DatabaseDep, runner: ImportRunnerDep, tenant: TenantDep, job_id: UUID
) -> ImportOut:
    """One import job: status, counters, failed chats."""
    job, channel = await run_in_threadpool(load_tenant_job, database, tenant, job_id)
    return _job_out(runner, job, channel)


@router.post("/imports/{job_id}/cancel", response_model=ImportOut)
async def cancel_import(
    database: DatabaseDep,
    services: ServicesDep,
    runner: ImportRunnerDep,
    tenant: TenantDep,
    job_id: UUID,
) -> ImportOut:
    """Cancel a running or interrupted job: `cancelled` at once, for good (not resumed nor
    retried); its run, wherever it is, stops at its next chunk and writes nothing more. 409
    when the job has ended."""
    job, channel = await cancel_tenant_job(database, services, runner, tenant, job_id)
    return _job_out(runner, job, channel)


async def cancel_tenant_job(
    database: Database, services: Services, runner: ImportRunner, tenant: Tenant, job_id: UUID
) -> tuple[jobs.ImportJob, str]:
    """Cancel the tenant's job (404: none; 409: it has ended)."""
    job, channel = await run_in_threadpool(load_tenant_job, database, tenant, job_id)
    try:
        job = await run_in_threadpool(
            partial(cancel.cancel_import, services, job.id, reason="cancelled", runner=runner)
        )
    except JobEnded as ended:
        raise HTTPException(409, str(ended)) from None
    return job, channel


@router.post("/imports/{job_id}/retry", status_code=202, response_model=ImportOut)
async def retry_import(
    database: DatabaseDep, runner: ImportRunnerDep, tenant: TenantDep, job_id: UUID
) -> ImportOut:
    """Fetch again only the chats the job recorded as failed (409 when there are none)."""
    job, channel = await restart(database, runner, tenant, job_id, retry=True)
    return _job_out(runner, job, channel)


@router.post("/imports/{job_id}/resume", status_code=202, response_model=ImportOut)
async def resume_import(
    database: DatabaseDep, runner: ImportRunnerDep, tenant: TenantDep, job_id: UUID
) -> ImportOut:
    """Continue a job that stopped before its end (409 when it completed, or runs in this or
    another process: a job whose process died is taken over 60 s after its last heartbeat)."""
    job, channel = await restart(database, runner, tenant, job_id, retry=False)
    return _job_out(runner, job, channel)


async def restart(
    database: Database, runner: ImportRunner, tenant: Tenant, job_id: UUID, *, retry: bool
) -> tuple[jobs.ImportJob, str]:
    """Run the tenant's job again in this process (`runner`): only its failed chats
    (`retry`), or what it has left (409 with the reason when that cannot be done now)."""
    job, channel = await run_in_threadpool(load_tenant_job, database, tenant, job_id)
    if runner.running(job.id):
        raise HTTPException(409, "the job is running")
    if retry and not job.failed_chats:
        raise HTTPException(409, "the job has no failed chats")
    if not retry and job.status == "completed":
        raise HTTPException(409, "the job is completed")
    if job.status == leases.CANCELLED:
        raise HTTPException(409, "the job was cancelled; start a new import")
    try:
        job = await run_in_threadpool(import_jobs.reopen, database, str(job.id))
    except (JobBusy, JobCancelled) as busy:  # cancelled meanwhile
        raise HTTPException(409, str(busy)) from None
    runner.start(job, set(job.failed_chats) if retry else None)
    return job, channel


@router.get(
    "/imports/{job_id}/progress",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def import_progress(
    request: Request,
    database: DatabaseDep,
    runner: ImportRunnerDep,
    tenant: TenantDep,
    job_id: UUID,
) -> StreamingResponse:
    """Server-sent events: `progress` twice a second while the job runs here, then one `end`
    with the job as stored."""
    job, channel = await run_in_threadpool(load_tenant_job, database, tenant, job_id)
    return StreamingResponse(
        progress_events(request, database, runner, tenant, job.id, channel),
        media_type="text/event-stream",
    )


async def progress_events(
    request: Request,
    database: Database,
    runner: ImportRunner,
    tenant: Tenant,
    job_id: UUID,
    channel: str,
) -> AsyncIterator[bytes]:
    """The SSE stream of a job: `progress` (counts and pace, see `ImportRunner.report`)
    twice a second while it runs here (in `runner`), then `end` with the job as stored
    (`request` tells when the client has gone)."""
    while (report := runner.report(job_id)) is not None:
        yield _event("progress", report)
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.5)
    final, _ = await run_in_threadpool(load_tenant_job, database, tenant, job_id)
    yield _event("end", _job_out(runner, final, channel).model_dump(mode="json"))


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
