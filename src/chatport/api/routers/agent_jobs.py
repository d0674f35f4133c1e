"""Agent jobs over the API: list and read a tenant's jobs, and the agent's late reply
(`POST /api/agent-jobs/{id}/reply`, for agents that answered 202)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from chatport.agent.delivery import reply_to_job
from chatport.api import cursors
from chatport.api.auth import TenantDep
from chatport.api.deps import DatabaseDep, DelivererDep, SettingsDep
from chatport.api.params import Cursor, TextBody
from chatport.api.responses import ERRORS
from chatport.api.schemas import Page
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs
from chatport.store.reads import pages
from chatport.store.tenants import Tenant

router = APIRouter(tags=["agent jobs"], responses=ERRORS)


class AgentJobOut(BaseModel):
    id: UUID
    chat_id: str
    status: str = Field(description="pending, delivering, waiting, replied or failed")
    message_ids: list[str] = Field(description="The burst's messages, in order")
    attempts: int
    next_attempt_at: datetime | None
    reply: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class ReplyIn(TextBody):
    reply: str | None = Field(
        max_length=65_536, description="The text to answer with (null: no answer)"
    )


def _out(row: Any) -> AgentJobOut:
    return AgentJobOut(**{name: getattr(row, name) for name in AgentJobOut.model_fields})


def _tenant_job(database: Database, tenant: Tenant, job_id: UUID) -> Any:
    with database.engine.connect() as connection:
        job = agent_jobs.load_job(connection, job_id)
    if job is None or job.tenant_id != tenant.id:
        raise HTTPException(404, f"no agent job {job_id}")
    return job


@router.get("/v1/agent-jobs", response_model=Page[AgentJobOut])
async def list_agent_jobs(
    database: DatabaseDep,
    tenant: TenantDep,
    status: Annotated[
        str | None, Query(max_length=32, description="Only jobs in this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page")] = 50,
    cursor: Cursor = None,
) -> Page[AgentJobOut]:
    """The tenant's agent jobs, newest first."""
    before = cursors.decode_time_and_uuid(cursor)

    def read() -> list[Any]:
        with database.engine.connect() as connection:
            return pages.agent_jobs_page(
                connection, tenant.id, limit=limit, status=status, before=before
            )

    rows = await run_in_threadpool(read)
    last = rows[-1] if len(rows) == limit else None
    return Page(
        items=[_out(row) for row in rows],
        next_cursor=cursors.encode(last.created_at, last.id) if last else None,
    )


@router.get("/v1/agent-jobs/{job_id}", response_model=AgentJobOut)
async def get_agent_job(database: DatabaseDep, tenant: TenantDep, job_id: UUID) -> AgentJobOut:
    """One agent job."""
    return _out(await run_in_threadpool(_tenant_job, database, tenant, job_id))


@router.post("/api/agent-jobs/{job_id}/reply", response_model=AgentJobOut)
async def reply_to_agent_job(
    database: DatabaseDep,
    settings: SettingsDep,
    deliverer: DelivererDep,
    tenant: TenantDep,
    job_id: UUID,
    body: ReplyIn,
) -> AgentJobOut:
    """The agent's reply to a job it accepted with 202: stored at once as an outbound message
    of the job's chat, then sent through the channel's WAHA when it has one (the message's
    `send_state` says how that went; 409 when the job has its reply already, or failed)."""

    def reply() -> Any:
        job = _tenant_job(database, tenant, job_id)
        if job.status in (agent_jobs.REPLIED, agent_jobs.FAILED):
            raise HTTPException(409, f"the job is {job.status}")
        text = body.reply if body.reply and body.reply.strip() else None
        if not reply_to_job(database, settings, job, text):
            raise HTTPException(409, "the job was answered meanwhile")
        return _tenant_job(database, tenant, job_id)

    answered = _out(await run_in_threadpool(reply))
    deliverer.wake()  # it sends the reply
    return answered
