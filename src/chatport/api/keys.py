"""API keys checked against the database, remembered for a few seconds (the REST API's
`X-Api-Key` and the console's cookie both ask it)."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool

from chatport.store import tenants
from chatport.store.database import Database
from chatport.store.tenants import Tenant

_TTL_SECONDS = 10.0


class KeyCache:
    """Keys checked in the last seconds (a revoked key stops working within `_TTL_SECONDS`)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._known: dict[str, tuple[float, Tenant | None]] = {}

    async def tenant(self, key: str) -> Tenant | None:
        """The tenant of a valid, unrevoked `key` (None for any other)."""
        digest = tenants.hash_key(key)
        cached = self._known.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        database = self.database

        def look_up() -> Tenant | None:
            with database.engine.connect() as connection:
                return tenants.tenant_of_key(connection, key)

        tenant = await run_in_threadpool(look_up)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[digest] = (time.monotonic() + _TTL_SECONDS, tenant)
        return tenant
