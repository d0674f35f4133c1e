"""Console pages of import jobs: the list, one job with its live progress bar (server-sent
events) and failed chats, and the forms that start, retry and resume imports."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from chatport.api.console.auth import ConsoleTenant, SameOrigin
from chatport.api.console.render import ConsoleError, render
from chatport.api.deps import CatchUpsDep, DatabaseDep, ImportRunnerDep, ServicesDep
from chatport.api.params import ChannelName
from chatport.api.routers import imports
from chatport.api.routers.catch_ups import start_catch_up
from chatport.engines.inprocess.runner import ImportRunner
from chatport.store.database import Database
from chatport.store.jobs import leases
from chatport.store.tenants import Tenant

router = APIRouter(include_in_schema=False)
JOBS_SHOWN = 50


async def _tenant_job(database: Database, tenant: Tenant, job_id: UUID) -> tuple:
    try:
        return await run_in_threadpool(imports.load_tenant_job, database, tenant, job_id)
    except HTTPException as missing:
        raise ConsoleError(missing.status_code, "There is no such import job.") from None


@router.get("/imports", response_class=HTMLResponse)
async def imports_page(
    request: Request, database: DatabaseDep, runner: ImportRunnerDep, tenant: ConsoleTenant
) -> Response:
    found = await run_in_threadpool(imports.tenant_jobs, database, tenant, JOBS_SHOWN)
    running = {job.id for job, _ in found if runner.running(job.id)}
    stalled = {job.id for job, _ in found if leases.stalled(job)}
    return render(request, "imports.html", jobs=found, running=running, stalled=stalled)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
async def import_page(
    request: Request,
    database: DatabaseDep,
    runner: ImportRunnerDep,
    tenant: ConsoleTenant,
    job_id: UUID,
    error: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    job, channel = await _tenant_job(database, tenant, job_id)
    return render(
        request,
        "import_job.html",
        job=job,
        channel=channel,
        running=runner.running(job.id),
        stalled=leases.stalled(job),
        stalled_hint=leases.STALLED_HINT.format(
            seconds=int(leases.STALE_AFTER.total_seconds()), job=job.id
        ),
        failed=sorted(job.failed_chats.items())[:500],
        error=error,
    )


@router.get("/imports/{job_id}/events")
async def import_events(
    request: Request,
    database: DatabaseDep,
    runner: ImportRunnerDep,
    tenant: ConsoleTenant,
    job_id: UUID,
) -> Response:
    """The job's progress stream (as `/v1/imports/{job}/progress`) for the signed-in console."""
    job, channel = await _tenant_job(database, tenant, job_id)
    return StreamingResponse(
        imports.progress_events(request, database, runner, tenant, job.id, channel),
        media_type="text/event-stream",
    )


@router.post("/channels/{channel}/imports", dependencies=[SameOrigin])
async def start_import(
    database: DatabaseDep,
    runner: ImportRunnerDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    days: Annotated[str, Form(max_length=10)] = "",
    chat_id: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        body = imports.ImportIn(
            days=int(days) if days.strip() else None, chat_id=chat_id.strip() or None
        )
    except (ValueError, ValidationError) as invalid:
        raise ConsoleError(422, f"Cannot start that import: {_reason(invalid)}") from None
    try:
        job = await imports.begin_import(database, runner, tenant, channel, body)
    except HTTPException as refused:
        message = f"Cannot start an import: {refused.detail}."
        raise ConsoleError(refused.status_code, message) from None
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


@router.post("/channels/{channel}/catch-up", dependencies=[SameOrigin])
async def catch_up(
    database: DatabaseDep, catch_ups: CatchUpsDep, tenant: ConsoleTenant, channel: ChannelName
) -> Response:
    """The catch-up's page (the running one's, when it was coalesced; the jobs list on
    Temporal, whose workflow creates the job)."""
    try:
        started = await start_catch_up(database, catch_ups, tenant, channel)
    except HTTPException as refused:
        raise ConsoleError(refused.status_code, f"Cannot catch up: {refused.detail}.") from None
    target = f"/imports/{started.job.id}" if started.job is not None else "/imports"
    return RedirectResponse(target, status_code=303)


@router.post("/imports/{job_id}/cancel", dependencies=[SameOrigin])
async def cancel_import(
    database: DatabaseDep,
    services: ServicesDep,
    runner: ImportRunnerDep,
    tenant: ConsoleTenant,
    job_id: UUID,
) -> Response:
    """Back to the job's page, which shows it cancelled (or why it was not)."""
    try:
        await imports.cancel_tenant_job(database, services, runner, tenant, job_id)
    except HTTPException as refused:
        if refused.status_code == 404:
            raise ConsoleError(404, "There is no such import job.") from None
        reason = urlencode({"error": refused.detail})
        return RedirectResponse(f"/imports/{job_id}?{reason}", status_code=303)
    return RedirectResponse(f"/imports/{job_id}", status_code=303)


@router.post("/imports/{job_id}/retry", dependencies=[SameOrigin])
async def retry_import(
    database: DatabaseDep, runner: ImportRunnerDep, tenant: ConsoleTenant, job_id: UUID
) -> Response:
    return await _restart(database, runner, tenant, job_id, retry=True)


@router.post("/imports/{job_id}/resume", dependencies=[SameOrigin])
async def resume_import(
    database: DatabaseDep, runner: ImportRunnerDep, tenant: ConsoleTenant, job_id: UUID
) -> Response:
    return await _restart(database, runner, tenant, job_id, retry=False)


async def _restart(
    database: Database, runner: ImportRunner, tenant: Tenant, job_id: UUID, *, retry: bool
) -> Response:
    """Back to the job's page, which follows the new run (or says why there is none)."""
    try:
        await imports.restart(database, runner, tenant, job_id, retry=retry)
    except HTTPException as refused:
        if refused.status_code == 404:
            raise ConsoleError(404, "There is no such import job.") from None
        reason = urlencode({"error": refused.detail})
        return RedirectResponse(f"/imports/{job_id}?{reason}", status_code=303)
    return RedirectResponse(f"/imports/{job_id}", status_code=303)


def _reason(invalid: Exception) -> str:
    if isinstance(invalid, ValidationError):
        return "; ".join(error["msg"] for error in invalid.errors())
    return "days must be a whole number"
