"""`POST /v1/channels/{channel}/catch-up`: bring in now what an outage of WAHA or chatport
missed (the server also does it by itself: at its start, periodically and when a session is
WORKING again)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from chatport.api.auth import TenantDep
from chatport.api.deps import CatchUpsDep, DatabaseDep, ImportRunnerDep
from chatport.api.params import ChannelName
from chatport.api.responses import ERRORS
from chatport.api.routers.imports import ImportOut, job_out
from chatport.engines.catch_ups import CatchUpTriggers
from chatport.errors import ConfigurationError
from chatport.ingest.catch_up import CatchUpStart
from chatport.store.database import Database
from chatport.store.reads import api as reads
from chatport.store.tenants import Tenant

router = APIRouter(prefix="/v1", tags=["imports"], responses=ERRORS)


class CatchUpOut(BaseModel):
    """What the trigger did."""

    channel: str
    coalesced: bool = Field(
        description="A catch-up of the channel was running: it runs once more when it ends"
    )
    job: ImportOut | None = Field(
        description="The catch-up job started (or the running one); null on the Temporal "
        "engine, whose channel workflow creates it"
    )
    workflow_id: str | None = Field(
        description="The Temporal workflow running the channel's catch-ups (Temporal engine)"
    )


@router.post("/channels/{channel}/catch-up", status_code=202, response_model=CatchUpOut)
async def catch_up(
    database: DatabaseDep,
    runner: ImportRunnerDep,
    catch_ups: CatchUpsDep,
    tenant: TenantDep,
    channel: ChannelName,
) -> CatchUpOut:
    """Import what the channel missed: the chats active since its newest stored message
    (minus `CHATPORT_CATCHUP_OVERLAP_MINUTES`), from then on (422 when it has no `waha_url`).
    Follow the job like any import (`GET /v1/imports/{id}`, its progress stream)."""
    started = await start_catch_up(database, catch_ups, tenant, channel)
    job = job_out(runner, started.job, channel) if started.job is not None else None
    return CatchUpOut(
        channel=channel, coalesced=started.coalesced, job=job, workflow_id=started.workflow_id
    )


async def start_catch_up(
    database: Database, catch_ups: CatchUpTriggers, tenant: Tenant, channel: str
) -> CatchUpStart:
    """The tenant's `channel` caught up (404 for no such channel, 422 without a WAHA URL)."""

    def channel_id() -> int:
        with database.engine.connect() as connection:
            row = reads.tenant_channel(connection, tenant.id, channel)
        if row is None:
            raise HTTPException(404, f"no channel {channel!r}")
        if not row.waha_url:
            raise HTTPException(422, f"channel {channel!r} has no waha_url")
        return row.id

    found = await run_in_threadpool(channel_id)
    try:
        return await run_in_threadpool(catch_ups.trigger, found)
    except ConfigurationError as error:
        raise HTTPException(422, str(error)) from None
