"""Where `POST /webhooks/waha` sends a delivery: the channel directory, a cache of the
channels deliveries name (one of the server's long-lived services)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from chatport.domain.model import Channel
from chatport.domain.normalise import own_number
from chatport.errors import NotFoundError
from chatport.sources.waha.webhooks import Envelope
from chatport.store import webhook_receipts
from chatport.store.database import Database
from chatport.store.reads.webhooks import free_channel_name, webhook_key


@dataclass(frozen=True)
class Target:
    """Where a delivery goes, and the key its signature must match (None: unsigned is OK)."""

    channel: Channel
    hmac_key: str | None


class ChannelDirectory:
    """Channels for deliveries, remembered for `ttl` seconds (a webhook burst reads the
    database once); a delivery no channel takes is not remembered, so a channel created
    by the CLI, the API or an import is found by the next one.

    One lookup per key at a time: deliveries that arrive while a channel is being looked up
    wait for that lookup instead of each starting their own (a burst's first deliveries, or
    every delivery in flight when the entry expires, would otherwise all query the database,
    and with `create_unknown` race to create the channel). An expired entry keeps answering
    while its refresh runs in the background, so expiry never stalls the deliveries.
    """

    def __init__(self, database: Database, *, create_unknown: bool, ttl: float = 5.0) -> None:
        self.database = database
        self.create_unknown = create_unknown
        self.ttl = ttl
        self._cache: dict[tuple, tuple[float, Target | None]] = {}
        self._lookups: dict[tuple, asyncio.Future[Target | None]] = {}
        self._keys: tuple[float, bool] | None = None

    async def find(
        self, envelope: Envelope | None, name: str | None, tenant: str, *, create: bool = True
    ) -> Target | None:
        """The target of a delivery, or None when no channel takes it: the channel `name` of
        `tenant` when a name is given (then `envelope` may be None: nothing of the body is
        needed), else the one of the envelope's WAHA session. `create`: whether an unknown
        session may create its channel (when the directory creates unknown ones at all)."""
        if name:
            session, me_id, create, key = "", None, False, ("name", tenant, name)
        elif envelope is not None:
            session = envelope.session
            me_id = own_number(envelope.me.id) if envelope.me else None
            create = create and self.create_unknown
            key = ("session", session, me_id, create)
        else:
            raise ValueError("a delivery is found by its channel's name or its envelope")
        cached = self._cache.get(key)
        if cached is not None:
            if cached[0] <= time.monotonic() and key not in self._lookups:
                self._look_up(key, session, me_id, name, tenant, create)  # answered meanwhile
            return cached[1]
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = self._look_up(key, session, me_id, name, tenant, create)
        return await asyncio.shield(lookup)

    async def keys_exist(self) -> bool:
        """Whether any channel has a webhook key of its own (remembered for `ttl` seconds)."""
        known = self._keys
        if known is None or known[0] <= time.monotonic():
            found = await run_in_threadpool(self._any_keys)
            known = self._keys = (time.monotonic() + self.ttl, found)
        return known[1]

    def _any_keys(self) -> bool:
        with self.database.engine.connect() as connection:
            return webhook_receipts.any_webhook_keys(connection)

    def _look_up(self, key: tuple, *args: str | bool | None) -> asyncio.Future[Target | None]:
        """Start the lookup of `key` (its result goes into the cache when it succeeds)."""
        lookup = asyncio.ensure_future(run_in_threadpool(self._lookup, *args))
        self._lookups[key] = lookup

        def done(finished: asyncio.Future[Target | None]) -> None:
            del self._lookups[key]
            if finished.cancelled() or finished.exception() is not None:
                return  # the waiters see the error; the next delivery looks up again
            if finished.result() is None:
                return  # not remembered: a channel created meanwhile is found at once
            if len(self._cache) > 10_000:  # names come from requests: keep the memory bounded
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.ttl, finished.result())

        lookup.add_done_callback(done)
        return lookup

    def _lookup(
        self, session: str, me_id: str | None, name: str | None, tenant: str, create: bool
    ) -> Target | None:
        with self.database.unit_of_work() as uow:
            connection = uow.connection
            if name:
                try:
                    channel = uow.channel(name, tenant)
                except NotFoundError:
                    return None
            else:
                candidates = webhook_receipts.channels_of_session(
                    connection, session, me_id, self.database.default_timeout
                )
                if len(candidates) != 1 and not (not candidates and create):
                    return None  # unknown, or ambiguous without `me.id` to tell them apart
                if candidates:
                    channel = candidates[0]
                else:
                    channel = uow.create_channel(
                        free_channel_name(connection, session), waha_session=session
                    )
                    uow.commit()
            key = webhook_key(connection, channel.id, secrets=self.database.secrets)
        return Target(channel, key)
