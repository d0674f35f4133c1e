"""The import jobs running in a `chatport serve` process (one thread each) and their live
progress, which the API's and the console's progress streams read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from chatport import logs
from chatport.domain.progress import ImportProgress, at_start, rates
from chatport.errors import (
    ChatportError,
    ImportStopped,
    JobBusy,
    JobTakenOver,
    NotFoundError,
    UrlRefused,
    WahaDown,
    WahaError,
)
from chatport.ingest import import_jobs
from chatport.ingest.lease_keeper import lease_kept
from chatport.ingest.waha.import_step import WahaImport
from chatport.services import Services
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs.leases import CANCELLED


class ImportRunner:
    """Import jobs running in this process, one thread each, with their live progress."""

    def __init__(self, services: Services, on_created: Callable[[int], None] | None = None) -> None:
        """`on_created(n)` is told of the messages each committed chunk created (metrics)."""
        self.services = services
        self._on_created = on_created or (lambda created: None)
        self._lock = threading.Lock()
        self._progress: dict[UUID, ImportProgress] = {}
        self._started: dict[UUID, float] = {}
        self._stops: dict[UUID, threading.Event] = {}
        self._threads: dict[UUID, threading.Thread] = {}

    def count(self) -> int:
        """How many jobs run here now."""
        with self._lock:
            return len(self._progress)

    def messages(self) -> int:
        """Messages read so far by the jobs running here."""
        with self._lock:
            return sum(progress.messages for progress in self._progress.values())

    def running(self, job_id: UUID) -> bool:
        with self._lock:
            return job_id in self._progress

    def stop(self, job_id: UUID) -> bool:
        """Tell the run of `job_id` here to stop at its next chunk (a cancel: the job is
        cancelled in the store first); whether it runs here."""
        with self._lock:
            stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()
        return stop is not None

    def join(self, job_id: UUID, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the run of `job_id` here to end; whether it has
        (or never ran here)."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return not self.running(job_id)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every run here at its next chunk (each ends `interrupted`: resume it) and wait
        up to `timeout` seconds in all for them to end (a server shutting down)."""
        with self._lock:
            stops, threads = list(self._stops.values()), list(self._threads.values())
        for stop in stops:
            stop.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def report(self, job_id: UUID) -> dict[str, Any] | None:
        """The progress of a job running here with its pace (elapsed, percent, msg/s, ETA),
        as the progress streams send it; None when it does not run here."""
        with self._lock:
            progress = self._progress.get(job_id)
            if progress is None:
                return None
            started = self._started[job_id]
        elapsed = time.monotonic() - started
        pace = rates(progress, elapsed)
        return {**vars(progress), "elapsed_seconds": round(elapsed, 3), **vars(pace)}

    def start(
        self,
        job: jobs.ImportJob,
        only_chats: set[str] | None = None,
        on_end: Callable[[jobs.ImportJob], None] | None = None,
    ) -> None:
        """Run `job` in a new thread (JobBusy when it runs here already); `on_end(job)` is
        called in that thread once the run has ended, however it ended."""
        with self._lock:
            if job.id in self._progress:
                raise JobBusy(f"import job {job.id} is running in this process")
            self._progress[job.id] = at_start(job.chats_done, only_chats)
            self._started[job.id] = time.monotonic()
            stop = self._stops[job.id] = threading.Event()

        def record(progress: ImportProgress) -> None:
            with self._lock:
                before = self._progress[job.id].created
                self._progress[job.id] = ImportProgress(**vars(progress))
            self._on_created(progress.created - before)

        def run() -> None:
            try:
                try:
                    importer = import_jobs.importer_for(
                        self.services, job, only_chats=only_chats, on_progress=record
                    )
                except ChatportError as error:  # e.g. its WAHA key unreadable (SecretKeyError)
                    database = self.services.database
                    with database.unit_of_work() as uow:  # not left `running` with nobody on it
                        jobs.finish_job(uow.connection, job, "failed", str(error))
                        uow.commit()
                    logs.job_finished(job)
                    return
                run_job(importer, stop=stop)
            except Exception:  # noqa: BLE001 - run_job stored the failure on the job
                pass
            finally:
                with self._lock:
                    self._progress.pop(job.id, None)
                    self._started.pop(job.id, None)
                    self._stops.pop(job.id, None)
                    self._threads.pop(job.id, None)
                if on_end is not None:
                    on_end(job)

        thread = threading.Thread(target=run, name=f"import-{job.id}", daemon=True)
        with self._lock:
            self._threads[job.id] = thread
        thread.start()


def run_job(
    importer: WahaImport,
    timeout_minutes: float | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Run an import to its end, a timeout, a stop or an error, and store the job's status:
    `completed`, `failed_chats` (some chats failed; `retry` them), `interrupted` (timeout,
    Ctrl-C, WAHA down past the circuit's patience, or `stop` set; `resume` it), `failed`
    (auth, session, a tenant's WAHA URL refused, or another stop; the error is kept) or
    `cancelled` (the job was cancelled, or its channel deleted, meanwhile: it stops at its
    next chunk or heartbeat and writes nothing more)."""
    deadline = time.monotonic() + timeout_minutes * 60 if timeout_minutes else None
    job = importer.job
    stop = stop or threading.Event()
    logs.job_started(job, "catch-up" if job.kind == jobs.CATCH_UP else "in-process")
    error = None
    try:
        with lease_kept(importer.database, job, stop):
            importer.run(deadline, stop)
        status = "failed_chats" if job.failed_chats else "completed"
    except (TimeoutError, KeyboardInterrupt):
        status, error = "interrupted", "stopped before the end; resume it"
    except WahaDown as down:
        status, error = "interrupted", str(down)
    except (WahaError, UrlRefused) as failure:
        status, error = "failed", str(failure)
    except (ImportStopped, JobTakenOver):
        if _cancelled(importer):
            return CANCELLED
        if stop.is_set() and job.owner is not None and _still_ours(importer):
            status, error = "interrupted", "stopped before the end; resume it"
        else:
            raise  # the job is another process's now: nothing more to write
    except Exception as failure:
        if _cancelled(importer):  # e.g. its channel deleted under a chunk
            return CANCELLED
        _finish(importer, "failed", f"{type(failure).__name__}: {failure}")
        raise
    if not _finish(importer, status, error) and _cancelled(importer):
        return CANCELLED
    return status


def _finish(importer: WahaImport, status: str, error: str | None) -> bool:
    with importer.database.unit_of_work() as uow:
        finished = jobs.finish_job(uow.connection, importer.job, status, error)
        uow.commit()
    if finished:
        logs.job_finished(importer.job)
    return finished


def _stored(importer: WahaImport) -> jobs.ImportJob | None:
    with importer.database.engine.connect() as connection:
        try:
            return jobs.load_job(connection, importer.job.id, chats=())
        except NotFoundError:
            return None


def _cancelled(importer: WahaImport) -> bool:
    """Whether the job was cancelled (or deleted with its channel); if so, `importer.job`
    says so too."""
    stored = _stored(importer)
    if stored is None or stored.status == CANCELLED:
        importer.job.status = CANCELLED
        importer.job.error = stored.error if stored is not None else "its channel was deleted"
        logs.job_finished(importer.job)
        return True
    return False


def _still_ours(importer: WahaImport) -> bool:
    stored = _stored(importer)
    return stored is not None and stored.owner == importer.job.owner
