"""Keep a running import job's lease fresh while its run lasts (see `store.jobs.leases`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from chatport.errors import JobCancelled, JobTakenOver
from chatport.store.database import Database
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs import leases

logger = logging.getLogger(__name__)


@contextmanager
def lease_kept(
    database: Database, job: jobs.ImportJob, lost: threading.Event | None = None
) -> Iterator[None]:
    """Renew `job`'s heartbeat every `leases.HEARTBEAT_EVERY` in a thread until the block ends
    (checkpoints renew it too; between them a chunk may take minutes against a slow WAHA).
    `lost` is set when the lease is gone (the job cancelled or claimed by another run), so
    the run stops without waiting for its next checkpoint."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(leases.HEARTBEAT_EVERY.total_seconds()):
            try:
                with database.unit_of_work() as uow:
                    leases.heartbeat(uow.connection, job)
                    uow.commit()
            except JobCancelled:
                logger.info("import job %s was cancelled", job.id)
                if lost is not None:
                    lost.set()
                return
            except JobTakenOver:
                logger.warning("import job %s was taken over by another process", job.id)
                if lost is not None:
                    lost.set()
                return
            except Exception:  # noqa: BLE001 - the next beat retries; a lost lease stops the run
                logger.exception("heartbeat of import job %s failed", job.id)

    thread = threading.Thread(target=beat, name=f"lease-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
