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

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from chatport.agent.waking_loop import WakingLoop
from chatport.domain.bursts import BurstRules
from chatport.store.database import Database
from chatport.store.jobs.bursts import close_bursts, due_bursts
from chatport.store.jobs.wakeups import BURSTS


class Debouncer(WakingLoop):
    """`Debouncer(database, rules).start()`, then `close()`; or `run_once(now)`."""

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
        super().__init__(
            database, BURSTS, "debouncer", poll_seconds=poll_seconds, idle_seconds=idle_seconds
        )
        self.rules = rules
        self._on_jobs = on_jobs
        self._next_due: datetime | None = None

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

    def _round(self) -> float:
        jobs = self._close()
        if jobs:
            self._on_jobs(jobs)
        if self._next_due is None:
            return self.idle_seconds
        return max(0.0, (self._next_due - datetime.now(UTC)).total_seconds()) + 0.001
