"""The import workflow's activities: methods of an object the worker builds from its
Services. `import_chats` runs the in-process engine's chunk step (`WahaImport.write_chats`:
fetch processes -> write path, one transaction per chunk with its checkpoint) over the chats
it is given; the rest read and write the job. Every write checks the run's lease token, so
an activity of a run that lost its job writes nothing."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.service import RPCError

from chatport import logs
from chatport.domain.model import BatchResult
from chatport.domain.progress import ImportProgress
from chatport.engines.temporal.inputs import (
    FAIL_CHATS,
    FINISH,
    IMPORT_CHATS,
    LIST_CHATS,
    PREPARE,
    ChatPage,
    ChatRef,
    ChunkInput,
    ChunkReport,
    FailInput,
    FinishInput,
    JobOutcome,
    JobRef,
    ListInput,
)
from chatport.errors import ImportStopped, JobCancelled, JobTakenOver, NotFoundError
from chatport.ingest import import_jobs
from chatport.ingest.lease_keeper import lease_kept
from chatport.ingest.waha.import_step import WahaImport
from chatport.services import Services
from chatport.sources.waha.client import WahaChat, WahaClient
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs.leases import CANCELLED
from chatport.store.write_path.lids import channel_lids

_BEAT_SECONDS = 5.0
logger = logging.getLogger(__name__)


class ImportActivities:
    """The activities, bound to one process's services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def all(self) -> list[Any]:
        """Every activity, for the worker to register."""
        return [self.prepare, self.list_chats, self.import_chats, self.fail_chats, self.finish]

    @activity.defn(name=PREPARE)
    async def prepare(self, ref: JobRef) -> None:
        """Check the WAHA session; read and store its LIDs (once per job run)."""
        job = await asyncio.to_thread(self._job, ref, [])
        importer = await asyncio.to_thread(import_jobs.importer_for, self.services, job)
        await asyncio.to_thread(importer.prepare)
        logs.job_started(job, "temporal")

    @activity.defn(name=LIST_CHATS)
    async def list_chats(self, listing: ListInput) -> ChatPage:
        """A page of WAHA's chats, without those the job has done (or not asked for)."""
        job = await asyncio.to_thread(self._job, listing.job, [])
        _, waha = await asyncio.to_thread(import_jobs.waha_of_job, self.services, job)
        listed: list[WahaChat] = []
        since = job.since if job.kind == jobs.CATCH_UP else None  # a catch-up: the active ones
        active_since = int(since.timestamp()) if since is not None else None
        async with (
            WahaClient(waha) as client,
            aclosing(client.chats(listing.offset, active_since=active_since)) as chats,
        ):
            async for chat in chats:
                listed.append(chat)
                if len(listed) % 100 == 0:
                    activity.heartbeat(len(listed))
                if len(listed) >= listing.limit:
                    break
        wanted = set(listing.only_chats) if listing.only_chats is not None else None
        kept = [chat for chat in listed if wanted is None or chat.id in wanted]
        ids = [chat.id for chat in kept]
        done = (await asyncio.to_thread(self._job, listing.job, ids)).chats_done
        return ChatPage(
            chats=[
                ChatRef(chat.id, chat.name, chat.last_timestamp)
                for chat in kept
                if chat.id not in done
            ],
            next_offset=listing.offset + len(listed),
            complete=len(listed) < listing.limit,
        )

    @activity.defn(name=IMPORT_CHATS)
    async def import_chats(self, chunk: ChunkInput) -> ChunkReport:
        """Fetch and write these chats (the chunk step); heartbeat per page, signal the
        workflow per committed chunk."""
        ids = [chat.id for chat in chunk.chats]
        job = await asyncio.to_thread(self._job, chunk.job, ids)
        events: asyncio.Queue[_Event] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def tell(kind: str) -> Any:
            return lambda p: loop.call_soon_threadsafe(events.put_nowait, _Event(kind, _copy(p)))

        importer = await asyncio.to_thread(
            import_jobs.importer_for,
            self.services,
            job,
            only_chats=set(ids),
            on_progress=tell("written"),
            on_fetched=tell("fetched"),
            chats=tuple(WahaChat(c.id, c.name, c.last_timestamp) for c in chunk.chats),
            fetchers=max(1, int(job.params.get("fetchers", 2)) // chunk.parallel),
            concurrency=max(1, int(job.params.get("concurrency", 4)) // chunk.parallel),
        )
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._write_chats, importer, stop))
        workflow = activity.client().get_workflow_handle(activity.info().workflow_id)
        started = reported = _copy(importer.progress)
        fetched = 0
        try:
            while not (work.done() and events.empty()):
                waiting = asyncio.ensure_future(events.get())
                await asyncio.wait(
                    {work, waiting}, timeout=_BEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if not waiting.done():
                    waiting.cancel()
                    activity.heartbeat(fetched)  # so a cancel reaches a slow chunk
                    continue
                event = waiting.result()
                fetched = event.progress.fetched
                activity.heartbeat(fetched)
                if event.kind == "written":
                    report = _delta(reported, event.progress)
                    reported = event.progress
                    if report != ChunkReport():
                        await _tell(workflow, report)
            work.result()
        except asyncio.CancelledError:
            stop.set()
            await asyncio.gather(work, return_exceptions=True)
            raise
        return _delta(started, reported)

    def _write_chats(self, importer: WahaImport, stop: threading.Event) -> None:
        database = self.services.database
        with database.engine.connect() as connection:
            lids = channel_lids(connection, importer.channel.id)
        # stopped by a cancelled activity or a lost lease: JobCancelled / JobTakenOver for the
        # latter (the job was cancelled, or is another run's), read from the store
        with lease_kept(database, importer.job, stop), suppress(ImportStopped):
            importer.write_chats(lids, stop=stop)
        self._job(JobRef(str(importer.job.id), importer.job.owner or ""), [])

    @activity.defn(name=FAIL_CHATS)
    async def fail_chats(self, failing: FailInput) -> ChunkReport:
        """Record the chats of a chunk that ran out of retries, except those done, as failed."""
        return await asyncio.to_thread(self._fail_chats, failing)

    def _fail_chats(self, failing: FailInput) -> ChunkReport:
        database = self.services.database
        with database.unit_of_work() as uow:
            job = self._load(uow.connection, failing.job, failing.chat_ids)
            failed = {c: failing.error for c in failing.chat_ids if c not in job.chats_done}
            newly = sum(chat not in job.failed_chats for chat in failed)
            jobs.checkpoint(uow.connection, uow.ops, job, BatchResult(), [], failed)
            uow.commit()
        logs.chats_failed(job, failed)
        return ChunkReport(chats_failed=newly)

    @activity.defn(name=FINISH)
    async def finish(self, finishing: FinishInput) -> JobOutcome:
        """Store the job's final status (derived from its failed chats when not given)."""
        return await asyncio.to_thread(self._finish, finishing)

    def _finish(self, finishing: FinishInput) -> JobOutcome:
        database = self.services.database
        with database.unit_of_work() as uow:
            try:
                job = self._load(uow.connection, finishing.job, [])
            except JobCancelled as cancelled:  # a cancelled workflow of a cancelled job
                return JobOutcome("cancelled", str(cancelled), {})
            status = finishing.status
            if status is None:
                status = "failed_chats" if job.counters.get("chats_failed") else "completed"
            jobs.finish_job(uow.connection, job, status, finishing.error)
            uow.commit()
        logs.job_finished(job)
        return JobOutcome(status, finishing.error, dict(job.counters))

    def _job(self, ref: JobRef, chats: list[str]) -> jobs.ImportJob:
        with self.services.database.engine.connect() as connection:
            return self._load(connection, ref, chats)

    @staticmethod
    def _load(connection: Any, ref: JobRef, chats: list[str]) -> jobs.ImportJob:
        try:
            job = jobs.load_job(connection, ref.job_id, chats=chats)
        except NotFoundError:
            raise JobCancelled(f"import job {ref.job_id} was deleted with its channel") from None
        if job.status == CANCELLED:
            raise JobCancelled(f"import job {job.id} was cancelled")
        if job.owner != ref.owner:
            raise JobTakenOver(f"import job {job.id} belongs to another run ({job.owner})")
        return job


async def _tell(workflow: Any, report: ChunkReport) -> None:
    """Signal the workflow's progress; a lost signal costs the progress bar, never the job."""
    try:
        await workflow.signal("progressed", report)
    except RPCError as error:
        logger.warning("progress signal to %s failed: %s", workflow.id, error)


@dataclass(frozen=True)
class _Event:
    kind: str
    progress: ImportProgress


def _copy(progress: ImportProgress) -> ImportProgress:
    return ImportProgress(**vars(progress))


def _delta(before: ImportProgress, after: ImportProgress) -> ChunkReport:
    return ChunkReport(
        messages=after.messages - before.messages,
        created=after.created - before.created,
        chats_done=after.chats_done - before.chats_done,
        chats_failed=after.chats_failed - before.chats_failed,
    )
