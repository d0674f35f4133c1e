"""Import a channel's history from WAHA: the in-process engine.

    chats (paged) -> K workers fetch each chat's pages -> map to IncomingMessage -> parts of at
    most `chunk_size` messages -> one writer packs parts of several chats into chunks -> the
    write path, one transaction per chunk, with the job's checkpoint in the same transaction.

Queues are bounded, so memory is bounded by the chunk and the pages in flight, not by the
history. A chat is checkpointed as done in the transaction that writes its last part; a chat
whose pages keep failing is recorded with its last error and skipped (`retry` fetches exactly
those again). Auth and session errors stop the job. History is quiet (origin `import`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection

from chatport.domain.batch import prepare_batch
from chatport.domain.model import BatchResult, Channel, IncomingMessage, Origin
from chatport.errors import WahaDown, WahaError, WahaUnavailable
from chatport.sources.waha import WahaChat, WahaClient, WahaSettings
from chatport.sources.waha_messages import to_incoming
from chatport.store import jobs
from chatport.store.database import Database


@dataclass
class Progress:
    """What an import has done so far (the CLI draws it, the API streams it)."""

    chats_seen: int = 0
    chats_listed: bool = False
    chats_done: int = 0
    chats_failed: int = 0
    messages: int = 0
    created: int = 0


@dataclass
class _Part:
    chat_id: str
    messages: list[IncomingMessage]
    last: bool
    error: str | None = None


class WahaImport:
    """One run of an import job (new, resumed or retried)."""

    def __init__(
        self,
        database: Database,
        channel: Channel,
        job: jobs.ImportJob,
        waha: WahaSettings,
        *,
        concurrency: int = 4,
        chunk_size: int = 5_000,
        only_chats: set[str] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.database = database
        self.channel = channel
        self.job = job
        self.waha = waha
        self.concurrency = concurrency
        self.chunk_size = chunk_size
        self.only_chats = only_chats
        self.progress = Progress(chats_done=len(job.chats_done))
        self._on_progress = on_progress or (lambda progress: None)

    async def run(self) -> None:
        """Fetch and write everything the job still lacks; raises WahaError on auth/session."""
        since = int(self.job.since.timestamp()) if self.job.since else None
        until = int(self.job.until.timestamp()) if self.job.until else None
        async with WahaClient(self.waha) as client:
            await client.check_session()
            lids = await client.lid_map()
            chats: asyncio.Queue[WahaChat | None] = asyncio.Queue(self.concurrency * 4)
            parts: asyncio.Queue[_Part | None] = asyncio.Queue(self.concurrency * 2)
            workers = [
                asyncio.create_task(self._fetch(client, chats, parts, lids, since, until))
                for _ in range(self.concurrency)
            ]
            tasks = [asyncio.create_task(self._list(client, chats)), *workers]

            async def fetch_all() -> None:
                await asyncio.gather(*tasks)
                await parts.put(None)

            # Waiting on both sides: a writer that fails must stop fetchers blocked on a full
            # queue, and a fetcher that fails must stop the writer.
            feeding = asyncio.create_task(fetch_all())
            writer = asyncio.create_task(self._write(parts))
            try:
                await asyncio.gather(feeding, writer)
            finally:
                for task in (*tasks, feeding, writer):
                    task.cancel()

    async def _list(self, client: WahaClient, chats: asyncio.Queue) -> None:
        async for chat in client.chats():
            if chat.id in self.job.chats_done:
                continue
            if self.only_chats is not None and chat.id not in self.only_chats:
                continue
            self.progress.chats_seen += 1
            await chats.put(chat)
        self.progress.chats_listed = True
        for _ in range(self.concurrency):
            await chats.put(None)

    async def _fetch(self, client, chats, parts, lids, since, until) -> None:
        while (chat := await chats.get()) is not None:
            buffer: list[IncomingMessage] = []
            try:
                async for page in client.messages(chat.id, since=since, until=until):
                    buffer += [to_incoming(m.data, m.raw, chat.id, lids, chat.name) for m in page]
                    while len(buffer) >= self.chunk_size:
                        await parts.put(_Part(chat.id, buffer[: self.chunk_size], last=False))
                        buffer = buffer[self.chunk_size :]
            except WahaUnavailable as error:
                await parts.put(_Part(chat.id, [], last=True, error=str(error)))
                continue
            await parts.put(_Part(chat.id, buffer, last=True))

    async def _write(self, parts: asyncio.Queue) -> None:
        pending: list[_Part] = []
        size = 0
        while (part := await parts.get()) is not None:
            pending.append(part)
            size += len(part.messages)
            if size >= self.chunk_size or (parts.empty() and part.last):
                await self._flush(pending)
                pending, size = [], 0
        if pending:
            await self._flush(pending)

    async def _flush(self, pending: list[_Part]) -> None:
        messages = [m for part in pending for m in part.messages]
        done = [p.chat_id for p in pending if p.last and p.error is None]
        failed = {p.chat_id: p.error for p in pending if p.error is not None}
        batch = prepare_batch(messages)

        committed: list[jobs.Checkpoint] = []

        def record(connection: Connection, result: BatchResult) -> None:
            committed[:] = [jobs.checkpoint(connection, self.job, result, done, failed)]

        # A future, not a task: stopping cancels tasks, and this one must not be.
        chunk = partial(
            self.database.write_batch, self.channel, batch, origin=Origin.IMPORT, then=record
        )
        write = asyncio.get_running_loop().run_in_executor(None, chunk)
        stopping = False
        while True:
            try:
                result = await asyncio.shield(write)
                break
            except asyncio.CancelledError:
                # The run is stopping, but this transaction is under way in its thread: let
                # it end, so that the job in memory says what the database says.
                stopping = True
        committed[0].adopt(self.job)
        self.progress.messages += len(messages)
        self.progress.created += result.created
        self.progress.chats_done += len(done)
        self.progress.chats_failed += len(failed)
        self._on_progress(self.progress)
        if stopping:
            raise asyncio.CancelledError


def run_job(importer: WahaImport, timeout_minutes: float | None = None) -> str:
    """Run an import to its end, a timeout or an error, and store the job's status:
    `completed`, `failed_chats` (some chats failed; `retry` them), `interrupted` (timeout,
    Ctrl-C or WAHA down past the circuit's patience; `resume` it) or `failed` (auth, session
    or another stop; the error is kept)."""

    async def bounded() -> None:
        if timeout_minutes:
            async with asyncio.timeout(timeout_minutes * 60):
                await importer.run()
        else:
            await importer.run()

    job = importer.job
    error = None
    try:
        asyncio.run(bounded())
        status = "failed_chats" if job.failed_chats else "completed"
    except (TimeoutError, KeyboardInterrupt):
        status, error = "interrupted", "stopped before the end; resume it"
    except WahaDown as down:
        status, error = "interrupted", str(down)
    except WahaError as failure:
        status, error = "failed", str(failure)
    except Exception as failure:
        _finish(importer, "failed", f"{type(failure).__name__}: {failure}")
        raise
    _finish(importer, status, error)
    return status


def _finish(importer: WahaImport, status: str, error: str | None) -> None:
    with importer.database.unit_of_work() as uow:
        jobs.finish_job(uow.connection, importer.job, status, error)
        uow.commit()
