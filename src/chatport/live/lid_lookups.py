"""LIDs on the live path: the stored mapping (`StoredLids`, cached per channel) and WAHA asked
for the phone number behind LIDs met without a known mapping (`LidLookups`).

A webhook naming a person only by `…@lid` (no `remoteJidAlt`/`participantAlt` twin, nothing
stored from an import's `/lids` read) is written at once under the LID; the LID is then looked
up in the background (`GET /api/{session}/lids/{lid}`) when the channel has WAHA credentials
(a WAHA URL a tenant gave is reached as `outbound.py` says).
A pair found is stored like any other (`remember_lids`): the LID contact merges into the phone
contact and the LID chat joins the phone chat. Webhooks never wait for WAHA.

Each (channel, LID) is asked at most once per `retry_seconds` (WAHA answers `pn: null` for
people whose number it does not know yet, and may be down).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from chatport.domain.model import Channel
from chatport.errors import SecretKeyError
from chatport.outbound import OPERATOR, tenant_trust
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.store.channels import waha_of
from chatport.store.database import Database
from chatport.store.write_path.lids import channel_lids, remember_lids

logger = logging.getLogger(__name__)

_MAX_REMEMBERED = 100_000


class StoredLids:
    """Each channel's stored `@lid` -> phone mapping, read again after `ttl` seconds, plus the
    pairs this process learned meanwhile (`learn` may be called from the LID lookup thread)."""

    def __init__(self, database: Database, ttl: float = 30.0) -> None:
        self.database = database
        self.ttl = ttl
        self._known: dict[int, tuple[float, dict[str, str]]] = {}

    def __call__(self, channel: Channel) -> Mapping[str, str]:
        cached = self._known.get(channel.id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with self.database.engine.connect() as connection:
            mapping = channel_lids(connection, channel.id)
        self._known[channel.id] = (time.monotonic() + self.ttl, mapping)
        return mapping

    def learn(self, channel: Channel, pairs: Mapping[str, str]) -> None:
        """Use `pairs` (just stored) from now on, without waiting for the next read."""
        cached = self._known.get(channel.id)
        if cached is not None:
            cached[1].update(pairs)


class LidLookups:
    """A background thread that looks LIDs up in WAHA and stores the pairs it finds."""

    def __init__(
        self,
        database: Database,
        learned: Callable[[Channel, Mapping[str, str]], None] = lambda channel, pairs: None,
        *,
        retry_seconds: float = 600.0,
        timeout_seconds: float = 30.0,
        allow_private_urls: bool = False,
    ) -> None:
        """`learned(channel, pairs)` is told of the pairs stored (after the commit);
        `allow_private_urls`: the operator's `CHATPORT_ALLOW_PRIVATE_URLS`."""
        self.database = database
        self.allow_private_urls = allow_private_urls
        self.retry_seconds = retry_seconds
        self.timeout_seconds = timeout_seconds
        self._learned = learned
        self._asked: dict[tuple[int, str], float] = {}  # -> when it may be asked again
        self._queue: queue.SimpleQueue[tuple[Channel, list[str]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lid-lookups", daemon=True)
        self._thread.start()

    def ask(self, channel: Channel, lids: Iterable[str]) -> None:
        """Queue the LIDs not asked for recently (cheap; call it from the writer)."""
        now = time.monotonic()
        if len(self._asked) > _MAX_REMEMBERED:
            self._asked = {key: until for key, until in self._asked.items() if until > now}
        fresh = []
        for lid in lids:
            key = (channel.id, lid)
            if self._asked.get(key, 0.0) <= now:
                self._asked[key] = now + self.retry_seconds
                fresh.append(lid)
        if fresh:
            self._queue.put((channel, sorted(fresh)))

    def close(self) -> None:
        """Finish the lookups queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            channel, lids = item
            try:
                self._look_up(channel, lids)
            except SecretKeyError as error:  # its WAHA key cannot be read: a setting, not a bug
                logger.error("looking up %d LIDs of channel %s: %s", len(lids), channel.id, error)
            except Exception:  # noqa: BLE001 - a lookup is best effort; the LID is asked again later
                logger.exception("looking up %d LIDs of channel %s failed", len(lids), channel.id)

    def _look_up(self, channel: Channel, lids: list[str]) -> None:
        with self.database.engine.connect() as connection:
            url, session, api_key, trusted = waha_of(
                connection, channel.id, secrets=self.database.secrets
            )
        if not url:
            return
        settings = WahaSettings(
            url=url,
            session=session,
            api_key=api_key,
            timeout_seconds=10,
            attempts=3,
            trust=OPERATOR if trusted else tenant_trust(self.allow_private_urls),
        )
        pairs = asyncio.run(asyncio.wait_for(_phones(settings, lids), self.timeout_seconds))
        if not pairs:
            return
        with self.database.unit_of_work() as uow:
            remember_lids(uow.connection, self.database.ops, channel, pairs)
            uow.commit()
        self._learned(channel, pairs)


async def _phones(settings: WahaSettings, lids: list[str]) -> dict[str, str]:
    async with WahaClient(settings) as waha:
        phones = await asyncio.gather(
            *(waha.phone_of_lid(lid) for lid in lids), return_exceptions=True
        )
    failed = [phone for phone in phones if isinstance(phone, Exception)]
    if failed:
        logger.warning("%d of %d LID lookups failed: %s", len(failed), len(lids), failed[0])
    return {lid: phone for lid, phone in zip(lids, phones, strict=True) if type(phone) is str}
