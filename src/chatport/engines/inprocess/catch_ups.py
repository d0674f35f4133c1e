"""Catch-ups run by the server's in-process runner: the job is created (or the trigger
coalesced into the running one) in the database, so several server processes start one per
channel; a catch-up asked to run once more starts again when its run ends."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from chatport.domain.model import Engine
from chatport.engines.inprocess.runner import ImportRunner
from chatport.ingest.catch_up import CatchUpStart, begin_catch_up, run_again
from chatport.store.jobs import import_jobs as jobs

logger = logging.getLogger(__name__)


class InProcessCatchUps:
    """`CatchUpStarter` of the in-process engine."""

    def __init__(
        self,
        runner: ImportRunner,
        overlap: timedelta,
        *,
        again: Callable[[int], None] | None = None,
    ) -> None:
        """`again(channel_id)` is called when a catch-up that was asked to run once more has
        ended (the triggers' `reconnected`): the next one then starts from the triggers'
        thread, not from the ended job's."""
        self.runner = runner
        self.overlap = overlap
        self.again = again
        self._closed = False

    def start(self, channel_id: int, *, again: bool) -> CatchUpStart:
        params = {"engine": Engine.INPROCESS.value}
        database = self.runner.services.database
        begun = begin_catch_up(
            database, channel_id, overlap=self.overlap, params=params, again=again
        )
        if not begun.coalesced and begun.job is not None:
            self.runner.start(begun.job, on_end=self._ended)
        return begun

    def _ended(self, job: jobs.ImportJob) -> None:
        try:
            rerun = run_again(self.runner.services.database, job)
        except Exception:  # noqa: BLE001 - the next trigger covers it
            logger.exception("catch-up %s: whether to run again could not be read", job.id)
            return
        if rerun and not self._closed and self.again is not None:
            self.again(job.channel_id)

    def close(self) -> None:
        self._closed = True
