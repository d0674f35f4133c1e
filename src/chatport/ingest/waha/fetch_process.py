"""The fetch half of a WAHA import, run in processes of its own (`WahaImport` starts them).

    its share of the chats (paged) -> K workers fetch each chat's pages -> pages of several
    chats packed into chunks of at most `chunk_size` messages -> those the store holds
    dropped (a re-import's `StoredFilter`) -> the rest mapped to IncomingMessage ->
    `prepare_batch` -> written here (`FetchPlan.writes`: PostgreSQL), or sent to the writer
    process (SQLite), as frames on a pipe (`runtime/frames.py`).

Fetching, decoding, mapping and validation are Python work; in their own processes they run on
other cores than the writes, which the GIL would otherwise keep on one. A process that writes
its own chunks spares each message an encoding, a copy through the pipe and a decoding. The
write (or the pipe, while the writer is behind) blocks the packing and the workers wait on a
short queue of pages, so memory is bounded by a chunk being packed, one being written or sent
and a few pages, whatever the size of the history. A chat's last part travels in the chunk
that marks it done; a chat whose pages keep failing is reported with its last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatport.domain.batch import prepare_batch
from chatport.domain.model import IncomingMessage
from chatport.domain.progress import RequestSeen
from chatport.errors import WahaUnavailable
from chatport.ingest.waha.chunks import Chunk
from chatport.ingest.waha.fetch_plan import Fetched, FetchPlan, Finished, Listed
from chatport.runtime import event_loop
from chatport.runtime.frames import stdout_frames
from chatport.runtime.heap import FETCHER_YOUNG_THRESHOLD, for_bulk_work
from chatport.sources.waha.client import WahaChat, WahaClient, WahaMessage
from chatport.sources.waha.messages import stored_key, to_incoming
from chatport.sources.waha.request_trace import request_trace

if TYPE_CHECKING:
    from chatport.ingest.waha.direct_writes import DirectChunkWriter
    from chatport.ingest.waha.stored_filter import StoredFilter

FETCH_COMMAND = ["-c", "from chatport.ingest.waha.fetch_process import main; main()"]
"""Arguments to the Python interpreter that start a fetch process (see `main`)."""
_PATIENCE_SECONDS = 1.0
_NICENESS = 10
_PAGES_AHEAD = 4
_FETCHED_EVERY_SECONDS = 0.2


@dataclass
class _Part:
    chat: WahaChat
    messages: list[Any]
    """IncomingMessage; or as read (WahaMessage) where the store is looked up first
    (`_Fetcher._chunk` maps those it lacks)."""
    last: bool
    error: str | None = None


def main() -> None:
    """A fetch process (`FETCH_COMMAND`): a pickled FetchPlan on stdin, frames of
    Listed / Fetched / Chunk (or Written) / Finished on stdout. Ctrl-C is the main
    process's to handle; a fetcher whose main process is gone exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    plan = pickle.load(sys.stdin.buffer)
    if plan.writes is None:
        # Fetching ahead is work the writer may never wait for: it takes the CPU the writer
        # (and the database) leave, and a re-import, whose writes are cheap, gets all of it.
        os.nice(_NICENESS)
    for_bulk_work(FETCHER_YOUNG_THRESHOLD)
    send = stdout_frames()
    try:
        event_loop.run(_Fetcher(plan, send).run())
    except BrokenPipeError:
        os._exit(1)
    except BaseException as error:  # noqa: BLE001 - every failure goes to the writer
        send(Finished(_portable(error)))
    else:
        send(Finished(None))


def _portable(error: BaseException) -> BaseException:
    """`error` if it survives pickling (it crosses to the writer process), else its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any exception type may refuse pickling
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class _Fetcher:
    def __init__(self, plan: FetchPlan, send: Any) -> None:
        self.plan = plan
        self._send = send
        self._unreported = 0
        self._requests: list[RequestSeen] = []
        self._reported_at = 0.0
        self._stored: StoredFilter | None = None
        self._own: DirectChunkWriter | None = None
        self._opening: asyncio.Task[None] | None = None

    async def send(self, item: Any) -> None:
        await asyncio.to_thread(self._send, item)

    async def _fetched(self, messages: int) -> None:
        self._unreported += messages
        if time.monotonic() - self._reported_at >= _FETCHED_EVERY_SECONDS:
            await self._report_fetched()

    async def _report_fetched(self) -> None:
        count, self._unreported = self._unreported, 0
        requests, self._requests = tuple(self._requests), []
        self._reported_at = time.monotonic()
        if count or requests:
            await self.send(Fetched(self.plan.share[0], count, requests))

    def _seen(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._requests.append((endpoint, outcome, seconds))

    async def _send_chunk(self, pending: list[_Part]) -> None:
        if self._opening is not None:
            await self._opening
        chunk = await asyncio.to_thread(self._chunk, pending)
        await self._report_fetched()
        if self._own is None:
            await self.send(chunk)
        else:
            await self.send(await asyncio.to_thread(self._own.write, chunk))

    def _chunk(self, pending: list[_Part]) -> Chunk:
        """The chunk of `pending`'s pages, prepared. Where the store is looked up, those it
        holds are dropped (as duplicates) before the others are mapped."""
        stored, lids = 0, self.plan.lids
        if self.plan.store is None:
            messages = [m for part in pending for m in part.messages]
        else:
            items = [(part.chat, m) for part in pending for m in part.messages]
            for part in pending:
                part.messages = []  # each payload goes once it is dropped or mapped
            if self._stored is not None:
                items, stored = self._stored.drop_stored(
                    items, lambda item: stored_key(item[1].data, item[0].id, lids)
                )
            messages = [_incoming(chat, m, lids) for chat, m in items]
            del items
        chunk = _chunk(messages, pending)
        chunk.batch.duplicates += stored
        return chunk

    async def run(self) -> None:
        if self.plan.store is not None or self.plan.writes is not None:
            # Opened while the first pages are fetched (loading the store's modules and
            # connecting take a few hundred milliseconds); the first chunk waits for it.
            self._opening = asyncio.create_task(asyncio.to_thread(self._open_store))
        try:
            await self._run()
            if self._opening is not None:
                await self._opening  # a store that failed to open fails the fetcher
        finally:
            if self._opening is not None:
                await asyncio.wait([self._opening])  # its thread cannot be stopped
                if not self._opening.cancelled():
                    self._opening.exception()  # raised above, or lost to an earlier error
            if self._stored is not None:
                self._stored.close()
            if self._own is not None:
                self._own.close()
            if self._requests:  # a fetcher that stops still tells of its requests (errors)
                with contextlib.suppress(Exception):
                    await self._report_fetched()

    def _open_store(self) -> None:
        """Open where this fetcher writes and looks duplicates up, one store for both."""
        # Imported only here: a first import's fetchers on SQLite never load these modules.
        plan = self.plan
        if plan.writes is not None:
            from chatport.ingest.waha.direct_writes import DirectChunkWriter

            self._own = DirectChunkWriter(plan.writes)
        if plan.store is not None:
            from chatport.ingest.waha.stored_filter import StoredFilter

            on = self._own.database if self._own is not None else None
            self._stored = StoredFilter.open(*plan.store, database=on)

    async def _run(self) -> None:
        plan = self.plan
        async with WahaClient(plan.waha, trace=request_trace(self._seen)) as client:
            # Unbounded: the listing runs ahead of the fetching, so the plan (and the ETA)
            # is known within the first pages, not when the last chats are reached.
            chats: asyncio.Queue[WahaChat | None] = asyncio.Queue()
            parts: asyncio.Queue[_Part | None] = asyncio.Queue(_PAGES_AHEAD)
            workers = [
                asyncio.create_task(self._fetch(client, chats, parts))
                for _ in range(plan.concurrency)
            ]
            tasks = [asyncio.create_task(self._list(client, chats)), *workers]

            async def fetch_all() -> None:
                await asyncio.gather(*tasks)
                await parts.put(None)

            feeding = asyncio.create_task(fetch_all())
            packing = asyncio.create_task(self._pack(parts))
            try:
                await asyncio.gather(feeding, packing)
            finally:
                for task in (*tasks, feeding, packing):
                    task.cancel()

    async def _list(self, client: WahaClient, chats: asyncio.Queue) -> None:
        plan, seen = self.plan, 0
        async for chat in _listed(plan, client):
            if not plan.takes(chat.id):
                continue
            seen += 1
            await chats.put(chat)
            if seen % 100 == 0:
                await self.send(Listed(plan.share[0], seen, False))
        await self.send(Listed(plan.share[0], seen, True))
        for _ in range(plan.concurrency):
            await chats.put(None)

    async def _fetch(self, client, chats, parts) -> None:
        plan = self.plan
        while (chat := await chats.get()) is not None:
            try:
                async for page in client.messages(chat.id, since=plan.since, until=plan.until):
                    read: list[Any] = page
                    if plan.store is None:  # else mapped once the store is looked up
                        read = [_incoming(chat, m, plan.lids) for m in page]
                    await parts.put(_Part(chat, read, last=False))
                    await self._fetched(len(page))
            except WahaUnavailable as error:
                await parts.put(_Part(chat, [], last=True, error=str(error)))
                continue
            await parts.put(_Part(chat, [], last=True))

    async def _pack(self, parts: asyncio.Queue) -> None:
        """Full chunks (fewer transactions), a page split where it crosses a chunk's end; a
        partial chunk only when fetching is slow (the queue is empty, a chat just ended and
        the oldest part waited for a second)."""
        limit = self.plan.chunk_size
        pending: list[_Part] = []
        size, since = 0, 0.0
        while (part := await parts.get()) is not None:
            if not pending:
                since = time.monotonic()
            while size + len(part.messages) > limit:
                room = limit - size
                pending.append(_Part(part.chat, part.messages[:room], last=False))
                await self._send_chunk(pending)
                pending, size, since = [], 0, time.monotonic()
                part = _Part(part.chat, part.messages[room:], part.last, part.error)
            pending.append(part)
            size += len(part.messages)
            slow = parts.empty() and part.last and time.monotonic() - since > _PATIENCE_SECONDS
            if size >= limit or slow:
                await self._send_chunk(pending)
                pending, size = [], 0
        if pending:
            await self._send_chunk(pending)
        await self._report_fetched()


async def _listed(plan: FetchPlan, client: WahaClient) -> AsyncIterator[WahaChat]:
    if plan.chats is None:
        async for chat in client.chats(active_since=plan.active_since):
            yield chat
    else:
        for chat in plan.chats:
            yield chat


def _incoming(chat: WahaChat, message: WahaMessage, lids: dict[str, str]) -> IncomingMessage:
    return to_incoming(message.data, message.raw, chat.id, lids, chat.name, message.problem)


def _chunk(messages: list[IncomingMessage], pending: list[_Part]) -> Chunk:
    return Chunk(
        batch=prepare_batch(messages),
        done=[p.chat.id for p in pending if p.last and p.error is None],
        failed={p.chat.id: p.error for p in pending if p.error is not None},
    )
