"""`X-Api-Key` on every REST route: the key's tenant scopes everything the request sees."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from chatport.store import tenants
from chatport.store.tenants import Tenant

_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A tenant's API key")
_TTL_SECONDS = 10.0


class KeyCache:
    """Keys checked in the last seconds (a revoked key stops working within `_TTL_SECONDS`)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, Tenant | None]] = {}

    async def tenant(self, request: Request, key: str) -> Tenant | None:
        digest = tenants.hash_key(key)
        cached = self._known.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        database = request.app.state.services.database

        def look_up() -> Tenant | None:
            with database.engine.connect() as connection:
                return tenants.tenant_of_key(connection, key)

        tenant = await run_in_threadpool(look_up)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[digest] = (time.monotonic() + _TTL_SECONDS, tenant)
        return tenant


async def current_tenant(
    request: Request, key: Annotated[str | None, Security(_header)] = None
) -> Tenant:
    """The tenant of the request's API key; 401 without a valid one."""
    if not key:
        raise HTTPException(401, "missing X-Api-Key header")
    tenant = await request.app.state.keys.tenant(request, key)
    if tenant is None:
        raise HTTPException(401, "unknown or revoked API key")
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]
