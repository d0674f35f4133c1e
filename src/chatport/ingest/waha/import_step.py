"""Import a channel's history from WAHA: the in-process engine.

Fetch processes (`fetch_process.py`: WAHA's pages -> prepared chunks, each process a share of the
chats) and this one: each chunk goes through the write path in one transaction that also
checkpoints the job (`chunk_step.py`), written by the fetch process that made it where the
store takes concurrent writers (PostgreSQL), else by this process's writer thread (SQLite);
this process checks the session, leases the job and keeps the progress. A chat is
checkpointed as done in the transaction that writes its last part; a chat whose pages keep
failing is recorded with its last error and skipped (`retry` fetches exactly those again).
Auth and session errors stop the job; so does a WAHA that stays down past its circuit's
patience (resumably). History is quiet (origin `import`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from functools import partial

import aiohttp

from chatport import logs
from chatport.domain.model import Channel
from chatport.domain.normalise import own_number
from chatport.domain.progress import ImportObserver, ImportProgress, at_start
from chatport.errors import ImportStopped
from chatport.ingest.waha.chunk_step import ChunkTarget, Written, write_chunk
from chatport.ingest.waha.chunks import Chunk, PackedChunk
from chatport.ingest.waha.fetch_plan import Fetched, FetchPlan, Finished, Listed
from chatport.ingest.waha.fetch_pool import FetchProcesses
from chatport.ingest.waha.writer_thread import ChunkWriter
from chatport.sources.waha.client import WahaChat, WahaClient, WahaSettings
from chatport.sources.waha.messages import user_jid
from chatport.sources.waha.request_trace import request_trace
from chatport.store import webhook_receipts
from chatport.store.database import Database
from chatport.store.jobs import import_jobs as jobs
from chatport.store.reads.api import channel_chat_ids
from chatport.store.write_path.lids import channel_lids, remember_lids


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
        chunk_size: int | None = None,
        fetchers: int = 2,
        only_chats: set[str] | None = None,
        on_progress: Callable[[ImportProgress], None] | None = None,
        on_fetched: Callable[[ImportProgress], None] | None = None,
        chats: tuple[WahaChat, ...] | None = None,
        observer: ImportObserver | None = None,
    ) -> None:
        """`concurrency` chats are fetched at once, spread over `fetchers` processes, and
        written in transactions of `chunk_size` messages (default: the store's
        `import_chunk_size`) by the fetch processes where the store takes concurrent writers
        (PostgreSQL), else by one writer thread (SQLite). `on_progress` hears of every
        committed chunk and of the listing, `on_fetched` of every page read (both from any
        thread, one call at a time). `chats`: the chats to import, already listed (else WAHA
        lists them). `observer`: the process's metrics (requests, chunks, progress)."""
        self.database = database
        self.observer = observer or ImportObserver()
        self.channel = channel
        self.job = job
        self.progress = at_start(job.chats_done, only_chats)
        self._on_progress = on_progress or (lambda progress: None)
        self._on_fetched = on_fetched or (lambda progress: None)
        catch_up = job.kind == jobs.CATCH_UP
        self.plan = FetchPlan(
            waha=waha,
            since=int(job.since.timestamp()) if job.since else None,
            until=int(job.until.timestamp()) if job.until else None,
            skip_chats=frozenset(job.chats_done),
            only_chats=frozenset(only_chats) if only_chats is not None else None,
            concurrency=max(1, -(-concurrency // fetchers)),
            chunk_size=chunk_size or database.ops.import_chunk_size,
            chats=chats,
            active_since=int(job.since.timestamp()) if catch_up and job.since else None,
        )
        self.fetchers = fetchers
        self.fetchers_write = database.ops.concurrent_writers
        """Whether the fetch processes write their own chunks (a store that takes concurrent
        writers), else this process's writer thread writes them."""
        self._store_url = database.engine.url.render_as_string(hide_password=False)
        self._listed: dict[int, Listed] = {}
        self._progress_lock = threading.Lock()

    def run(self, deadline: float | None = None, stop: threading.Event | None = None) -> None:
        """Fetch and write everything the job still lacks. Raises WahaError (auth, session,
        WAHA down), TimeoutError once `deadline` (time.monotonic()) has passed, ImportStopped
        once `stop` is set (between chunks), or whatever stopped a fetcher or a write."""
        # The fetch processes start first: they load their modules while this one talks to
        # WAHA and the store.
        with FetchProcesses(self.fetchers) as fetching:
            lids = self.prepare()
            if stop is not None and stop.is_set():
                raise ImportStopped("the import was stopped")
            self.write_chats(lids, deadline, stop=stop, fetching=fetching)

    def prepare(self) -> dict[str, str]:
        """Check the WAHA session (clear errors before anything is fetched), read the
        session's `@lid` -> phone mapping once and store it (for the live path, and so LID
        contacts merge); record the session's own number on the channel (the webhooks of a
        session name several channels share find theirs by it); return the mapping, phones as
        `…@c.us`. A catch-up's is cheaper (`_prepare_catch_up`)."""
        if self.job.kind == jobs.CATCH_UP:
            return self._prepare_catch_up()
        me_id, lids = asyncio.run(_session_and_lids(self.plan.waha, trace=self._trace()))
        with self.database.unit_of_work() as uow:
            phones = {lid: user_jid(phone) or phone for lid, phone in lids.items()}
            remember_lids(uow.connection, self.database.ops, self.channel, phones)
            if me_id:
                webhook_receipts.set_status(uow.connection, self.channel.id, "WORKING", me_id)
            uow.commit()
        return phones

    def _prepare_catch_up(self) -> dict[str, str]:
        """`prepare` in a handful of requests, writing nothing when nothing changed: the
        stored mapping is used unless WAHA counts more pairs (then it is read and the new pairs
        stored), and the status is recorded only when it changed."""
        with self.database.engine.connect() as connection:
            stored = channel_lids(connection, self.channel.id)
            status, known_me = webhook_receipts.status_of(connection, self.channel.id)
        waha, trace = self.plan.waha, self._trace()
        me_id, lids = asyncio.run(_session_and_lids(waha, known=len(stored), trace=trace))
        phones = {lid: user_jid(phone) or phone for lid, phone in lids.items()}
        new = {lid: phone for lid, phone in phones.items() if stored.get(lid) != phone}
        if new or status != "WORKING" or (me_id and me_id != known_me):
            with self.database.unit_of_work() as uow:
                remember_lids(uow.connection, self.database.ops, self.channel, new)
                webhook_receipts.set_status(uow.connection, self.channel.id, "WORKING", me_id)
                uow.commit()
        return {**stored, **new}

    def write_chats(
        self,
        lids: dict[str, str],
        deadline: float | None = None,
        stop: threading.Event | None = None,
        fetching: FetchProcesses | None = None,
    ) -> None:
        """The chunk step both engines run: fetch the plan's chats (in fetch processes:
        `fetching`'s, else its own) and write each chunk through the write path, in one
        transaction with its checkpoint: in the fetch processes on PostgreSQL, in a writer
        thread (`ChunkWriter`, the database's `bulk_writes`) on SQLite.
        Raises TimeoutError once `deadline` has passed, ImportStopped once `stop` is set."""
        with self.database.engine.connect() as connection:
            stored_chats = channel_chat_ids(connection, self.channel.id)
        target = ChunkTarget(self._store_url, self.channel, self.job, stored_chats, lids)
        plans = [self._share(i, target) for i in range(self.fetchers)]

        def halt() -> None:
            if writing is not None:
                writing.check()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("the import's time is up")
            if stop is not None and stop.is_set():
                raise ImportStopped("the import was stopped")

        with ExitStack() as stack:
            writing = None
            if not self.fetchers_write:
                database = stack.enter_context(self.database.bulk_writes())
                write = partial(self._write, database, target)
                writing = stack.enter_context(ChunkWriter(PackedChunk.unpack, write))
            fetched = fetching or stack.enter_context(FetchProcesses(self.fetchers))
            fetched.fetch(plans, writing)
            try:
                self._take_reports(fetched, writing, halt)
            except BaseException:
                if self.fetchers_write:
                    fetched.stop()
                    self._reload_job_from_store()
                raise
            finally:
                self.observer.progress(str(self.job.id), None)

    def _take_reports(
        self, fetched: FetchProcesses, writing: ChunkWriter | None, halt: Callable[[], None]
    ) -> None:
        """Take in what the fetch processes send until each has finished."""
        running = self.fetchers
        while running:
            item = fetched.next(halt)
            if isinstance(item, Finished):
                if item.error is not None:
                    if writing is not None:
                        writing.finish(halt)  # what came before the error is kept
                    raise item.error
                running -= 1
            elif isinstance(item, Written):
                self._count_committed(item)
            elif isinstance(item, Fetched):
                if item.requests:
                    self.observer.requests(item.requests)
                with self._progress_lock:
                    self.progress.fetched += item.messages
                    self._on_fetched(self.progress)
            else:
                self._count_listed(item)
        if writing is not None:
            writing.finish(halt)

    def _reload_job_from_store(self) -> None:
        """After the fetch processes were stopped in the middle: the job in memory as the
        store has it (a chunk whose `Written` was never read may have committed)."""
        with self.database.unit_of_work() as uow:
            jobs.settle(uow.connection, self.job, chats=self.plan.only_chats)
            uow.commit()

    def _share(self, index: int, target: ChunkTarget) -> FetchPlan:
        """Fetcher `index`'s plan: the store is named when it holds chats already
        (`StoredFilter`; all of them, as a `@lid` chat of this share may be stored under its
        phone, which hashes to another), and as where to write when the fetchers write."""
        plan = replace(self.plan, share=(index, self.fetchers), lids=target.lids)
        if self.fetchers_write:
            plan = replace(plan, writes=target.for_process())
        if not target.stored_chats:
            return plan
        return replace(plan, store=(self._store_url, self.channel.id, target.stored_chats))

    def _count_listed(self, item: Listed) -> None:
        with self._progress_lock:
            self._listed[item.fetcher] = item
            listed = self._listed.values()
            self.progress.chats_seen = sum(each.chats for each in listed)
            self.progress.chats_listed = len(self._listed) == self.fetchers and all(
                each.complete for each in listed
            )
            self._on_progress(self.progress)
            self.observer.progress(str(self.job.id), self.progress)

    def _write(
        self, database: Database, target: ChunkTarget, chunk: Chunk, quiet: Callable[[], None]
    ) -> None:
        """Write `chunk` with its checkpoint (the writer thread's step), then count it."""
        self._count_committed(write_chunk(database, target, chunk, quiet))

    def _count_committed(self, written: Written) -> None:
        """Adopt a committed chunk's checkpoint and count it in the progress."""
        with self._progress_lock:
            written.checkpoint.adopt(self.job)
            if written.checkpoint.failed:
                logs.chats_failed(self.job, written.checkpoint.failed)
            self.progress.messages += written.messages
            self.progress.created += written.created
            self.progress.chats_done += written.chats_done
            self.progress.chats_failed += written.chats_failed
            self._on_progress(self.progress)
            self.observer.progress(str(self.job.id), self.progress)
        self.observer.chunk(written.messages, written.seconds)

    def _trace(self) -> aiohttp.TraceConfig:
        """This process's WAHA requests, told to the observer."""
        return request_trace(lambda *seen: self.observer.requests([seen]))


async def _session_and_lids(
    waha: WahaSettings, known: int | None = None, trace: aiohttp.TraceConfig | None = None
) -> tuple[str | None, dict[str, str]]:
    """Check the session (clear errors before any process starts): its own number's id, and
    its `/lids` read once (none when WAHA counts no more pairs than the `known` ones)."""
    async with WahaClient(waha, trace=trace) as client:
        info = await client.check_session()
        me = info.get("me")
        me_id = own_number(me.get("id")) if isinstance(me, dict) else None
        if known is not None:
            count = await client.lid_count()
            if count is not None and count <= known:
                return me_id, {}
        return me_id, await client.lid_map()
