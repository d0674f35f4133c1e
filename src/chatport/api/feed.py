"""Live changes to chats for server-sent events: one poller per server process, started while
someone watches, reads what changed (`store/reads/feed.py`) every `every` seconds and hands each
watcher what concerns it: a conversation's watcher the row ids of its chat's new or changed
messages, a chat list's watcher the ids of its channel's chats with new messages. Whoever wrote
the change (a writer process, the deliverer, another server on the same PostgreSQL) is seen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from chatport.store.database import Database
from chatport.store.reads import feed

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Watcher:
    """One live view's subscription (`ChatFeed.subscribe`)."""

    channel_id: int
    chat_id: str | None  # None: the channel's chat list
    queue: asyncio.Queue[set] = field(default_factory=lambda: asyncio.Queue(maxsize=1_000))


class ChatFeed:
    """`watcher = await feed.subscribe(channel_id, chat_id)`, then
    `async for ids in feed.changes(watcher): ...` (see the module)."""

    def __init__(self, database: Database, every: float = 0.5) -> None:
        self.database = database
        self.every = every
        self._watchers: set[Watcher] = set()
        self._task: asyncio.Task | None = None
        self._after = 0
        self._since: datetime | None = None

    async def subscribe(self, channel_id: int, chat_id: str | None = None) -> Watcher:
        """Watch the chat (or, with no chat, the channel's chat list) from now on."""
        watcher = Watcher(channel_id, chat_id)
        if self._task is None or self._task.done():
            self._after, self._since = await run_in_threadpool(self._watermark)
            self._task = asyncio.create_task(self._poll(), name="chat-feed")
        self._watchers.add(watcher)
        return watcher

    async def changes(self, watcher: Watcher) -> AsyncIterator[set]:
        """Batches of message row ids of the watched chat (or chat ids of the channel) that
        changed since it was subscribed, as they are seen; the watch ends with the loop."""
        try:
            while True:
                yield await watcher.queue.get()
        finally:
            self._watchers.discard(watcher)

    def _watermark(self) -> tuple[int, datetime | None]:
        with self.database.engine.connect() as connection:
            return feed.watermark(connection)

    def _changes(self) -> tuple[list, list]:
        with self.database.engine.connect() as connection:
            return feed.changes_after(connection, self._after, self._since)

    async def _poll(self) -> None:
        while self._watchers:
            await asyncio.sleep(self.every)
            try:
                new, changed = await run_in_threadpool(self._changes)
            except Exception:  # noqa: BLE001 - the next turn tries again
                logger.exception("chat feed: reading the changes failed")
                continue
            if new:
                self._after = new[-1].id
            if changed:
                self._since = changed[-1].updated_at
            for watcher in list(self._watchers):
                ids = {
                    row.id if watcher.chat_id is not None else row.chat_id
                    for row in (*new, *changed)
                    if row.channel_id == watcher.channel_id
                    and (watcher.chat_id is None or row.chat_id == watcher.chat_id)
                }
                if ids and not watcher.queue.full():  # a view that stopped reading drops
                    watcher.queue.put_nowait(ids)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
