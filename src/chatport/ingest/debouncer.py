"""The debouncer: closes due bursts into agent jobs, in a thread of the server.

Burst state lives in the database, so a restart in the middle of a quiet window loses nothing:
the next debouncer closes the burst when it is due, once. Several servers on one PostgreSQL
may each run one: bursts are claimed with `FOR UPDATE SKIP LOCKED` (`store.bursts`).

It sleeps until the next burst is due. On PostgreSQL a burst opened or extended anywhere wakes
it at once (LISTEN/NOTIFY, `store.wakeups`), so it closes bursts on time without polling (a
check every `idle_seconds` covers a lost notification); on SQLite it polls every
`poll_seconds` (a burst closes at most that late).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from chatport.domain.bursts import BurstRules
from chatport.store.bursts import close_bursts, due_bursts
from chatport.store.database import Database
from chatport.store.wakeups import BURSTS, Listener

logger = logging.getLogger(__name__)


class Debouncer:
    """`Debouncer(database, rules).start()`, then `close()`."""

    def __init__(
        self,
        database: Database,
        rules: BurstRules,
        *,
        poll_seconds: float = 0.2,
        idle_seconds: float = 5.0,
        on_jobs: Callable[[list[tuple[UUID, float]]], None] = lambda jobs: None,
    ) -> None:
        """`on_jobs([(id, seconds), …])` is told of the agent jobs each round created (after
        the commit), each with the seconds from its burst's last bubble to the job."""
        self.database = database
        self.rules = rules
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self._on_jobs = on_jobs
        self._listener = Listener(database, BURSTS, poll_seconds)
        self._next_due: datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="debouncer", daemon=True)

    def start(self) -> Debouncer:
        """Start polling; returns itself."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop polling (a round under way finishes)."""
        self._stop.set()
        if self._thread.is_alive():
            self._listener.interrupt()
            self._thread.join()

    def run_once(self, now: datetime | None = None) -> list[UUID]:
        """Close what is due at `now` (default: the clock's now); the new jobs' ids."""
        return [job for job, _ in self._close(now)]

    def _close(self, now: datetime | None = None) -> list[tuple[UUID, float]]:
        """Looks first with a read, so an idle round takes no write lock (SQLite)."""
        now = now or datetime.now(UTC)
        with self.database.engine.connect() as connection:
            due, self._next_due = due_bursts(connection, self.rules, now)
        if not due:
            return []
        with self.database.unit_of_work() as uow:
            jobs = close_bursts(uow.connection, self.database.ops, due, now)
            uow.commit()
        return jobs

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    jobs = self._close()
                except Exception:  # noqa: BLE001 - the next round tries again; nothing lost
                    logger.exception("closing due bursts failed")
                    jobs = []
                if jobs:
                    self._on_jobs(jobs)
                if not self._stop.is_set():
                    self._listener.wait(self._seconds_to_next())
        finally:
            self._listener.close()

    def _seconds_to_next(self) -> float:
        if self._next_due is None:
            return self.idle_seconds
        ahead = (self._next_due - datetime.now(UTC)).total_seconds()
        return min(self.idle_seconds, max(0.0, ahead) + 0.001)
