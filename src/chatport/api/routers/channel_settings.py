"""Changing and deleting a tenant's channels, and the tenant's own settings, over the API.

`PATCH /v1/channels/{channel}` changes the settings given (null: back to the default);
`DELETE /v1/channels/{channel}` cancels the channel's imports and deletes it with every row
of it; `GET|PATCH /v1/tenant` reads and sets the tenant's session timeout (the middle of
global -> tenant -> channel).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from chatport.api.auth import TenantDep
from chatport.api.deps import DatabaseDep, ImportRunnerDep, ServicesDep, SettingsDep
from chatport.api.params import ChannelName
from chatport.api.responses import ERRORS
from chatport.api.routers.channels import channel_out, channel_row, run_read
from chatport.api.schemas import ChannelOut, ChannelPatch, DeletedOut, TenantOut, TenantPatch
from chatport.engines.cancel import delete_channel
from chatport.errors import UrlRefused
from chatport.outbound import check_tenant_urls
from chatport.store import channel_admin

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.patch("/channels/{channel}", tags=["channels"], response_model=ChannelOut)
async def update_channel(
    database: DatabaseDep,
    settings: SettingsDep,
    tenant: TenantDep,
    channel: ChannelName,
    body: ChannelPatch,
) -> ChannelOut:
    """Change the channel's settings given in the body; null puts one back to its default
    (409 when another channel has the WAHA session: the same `waha_url` and `waha_session`;
    422 for a URL whose host is not public, unless the operator allows private networks)."""
    changes = body.model_dump(exclude_unset=True)
    urls = {name: changes.get(name) for name in ("waha_url", "agent_url")}
    try:
        await run_in_threadpool(check_tenant_urls, urls, allow_private=settings.allow_private_urls)
    except UrlRefused as refused:
        raise HTTPException(422, str(refused)) from None

    def update() -> Any:
        with database.unit_of_work() as uow:
            row = channel_row(uow.connection, tenant, channel)
            channel_admin.update_channel(
                uow.connection, row.id, changes, secrets=database.secrets, trusted=False
            )
            uow.commit()
            return channel_row(uow.connection, tenant, channel)

    return channel_out(await run_in_threadpool(update))


@router.delete("/channels/{channel}", tags=["channels"], response_model=DeletedOut)
async def remove_channel(
    database: DatabaseDep,
    services: ServicesDep,
    runner: ImportRunnerDep,
    tenant: TenantDep,
    channel: ChannelName,
) -> DeletedOut:
    """Delete the channel and everything of it (chats, messages, sessions, events, jobs,
    ...), for good: its running import is cancelled first (it ends `cancelled`). Rows deleted
    by table."""
    row = await run_read(database, lambda c: channel_row(c, tenant, channel))
    deleted = await run_in_threadpool(partial(delete_channel, services, row.id, runner=runner))
    return DeletedOut(deleted=deleted)


def _tenant_out(row: Any) -> TenantOut:
    seconds = row.session_timeout_seconds
    return TenantOut(name=row.name, session_timeout_minutes=seconds / 60 if seconds else None)


@router.get("/tenant", tags=["tenant"], response_model=TenantOut)
async def get_tenant(database: DatabaseDep, tenant: TenantDep) -> TenantOut:
    """The tenant of the API key, and its settings."""
    return _tenant_out(
        await run_read(database, lambda c: channel_admin.tenant_settings(c, tenant.name))
    )


@router.patch("/tenant", tags=["tenant"], response_model=TenantOut)
async def update_tenant(database: DatabaseDep, tenant: TenantDep, body: TenantPatch) -> TenantOut:
    """Set the tenant's session timeout: its channels without their own use it (null: the
    global CHATPORT_SESSION_TIMEOUT_MINUTES). Messages stored already keep their sessions."""

    def update() -> Any:
        with database.unit_of_work() as uow:
            if "session_timeout_minutes" in body.model_fields_set:
                channel_admin.set_tenant_timeout(
                    uow.connection, tenant.id, body.session_timeout_minutes
                )
            uow.commit()
            return channel_admin.tenant_settings(uow.connection, tenant.name)

    return _tenant_out(await run_in_threadpool(update))
