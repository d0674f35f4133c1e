"""`X-Api-Key` on every REST route: the key's tenant scopes everything the request sees."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader

from chatport.api.deps import KeysDep
from chatport.store.tenants import Tenant

_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A tenant's API key")


async def current_tenant(
    keys: KeysDep, key: Annotated[str | None, Security(_header)] = None
) -> Tenant:
    """The tenant of the request's API key; 401 without a valid one."""
    if not key:
        raise HTTPException(401, "missing X-Api-Key header")
    tenant = await keys.tenant(key)
    if tenant is None:
        raise HTTPException(401, "unknown or revoked API key")
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]
