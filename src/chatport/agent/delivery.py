"""Delivering agent jobs: concurrently, each channel's apart from the others'.

A deliverer runs an asyncio loop in a thread of its own (`start()`, `close()`; or `run_once()`
for one round on the caller's thread). It claims the jobs that are due and delivers each in a
task of its own, within its bounds (`bounds.py`): at most `CHATPORT_AGENT_CONCURRENCY` jobs
asking their agents at once and `CHATPORT_AGENT_CHANNEL_CONCURRENCY` of one channel, and as
many sends apart: a channel whose agent hangs or whose WAHA is down holds its own slots only,
and every other channel's jobs go on being delivered. Claims run on a thread of their own,
the payload reads on threads of theirs, the replies' writes on others (on SQLite through one
gate, claims first: `gate.py`), so a new job never waits behind the replies being stored. A
delivery asks the agent (`asking.py`), then stores and sends the reply (`replies.py`); every
outbound call has a timeout shorter than the job's lease, and nothing is retried inside a
delivery: a failed attempt puts the job back to pending with exponential backoff and jitter,
scheduled in the database (retries survive restarts); after `max_attempts` the job is `failed`,
with the error. The HTTP sessions (agents', WAHA's) are kept for the deliverer's life.

Each `chatport serve` runs one deliverer. It sleeps until the next job is due; a new job wakes
it at once (`wake()` from the debouncer of its process; LISTEN/NOTIFY from others on
PostgreSQL; on SQLite it polls every `poll_seconds`).

A claimed job carries a lease token (`store/jobs/agent_jobs.py`): its outcome is written, its
lease renewed before its reply is sent, and its reply stored only while it still carries that
token, so a deliverer whose lease ran out and whose job another claimed neither sends nor
stores a second reply. `close()` gives deliveries under way `grace_seconds` to end, then
cancels the others and releases their jobs (pending again, the attempt not counted), so a
server stops in seconds whatever its agents and WAHAs do, and the jobs are delivered after.

A job never stops the deliverer: whatever its delivery raises (an in-process agent's
SystemExit or KeyboardInterrupt included) fails that job only, logged with its id: the
deliveries under way are `flights.py`'s tasks (its `DeliveryObserver` is re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from chatport.agent import replies
from chatport.agent.asking import OutboundSessions
from chatport.agent.attempt import Attempts
from chatport.agent.bounds import JOB, SEND, Bounds
from chatport.agent.flights import DeliveryObserver, Flights
from chatport.agent.gate import WriteGate
from chatport.agent.queue import DeliveryQueue
from chatport.settings import Settings
from chatport.store.database import Database
from chatport.store.jobs.wakeups import AGENT_JOBS, Listener

logger = logging.getLogger(__name__)

reply_to_job = replies.reply_to_job  # the API's late replies
DB_THREADS = 8
"""Threads of a deliverer's database work after the agent answered (storing replies,
settling sends)."""
INTAKE_THREADS = 4
"""Threads of a deliverer's intake, reading what the agent is sent. Apart from the others, so
a new job never queues behind replies being stored; and claims have a thread of their own
(the loop claims one round at a time), so they never queue behind either (all within
SQLAlchemy's default pool of 15)."""


class AgentDeliverer:
    """`AgentDeliverer(database, settings).start()`, then `close()`; or `run_once(now)`."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        poll_seconds: float = 0.2,
        idle_seconds: float = 5.0,
        max_attempts: int = 5,
        base_delay: timedelta = timedelta(seconds=2),
        max_delay: timedelta = timedelta(minutes=5),
        lease: timedelta | None = None,
        concurrency: int | None = None,
        per_channel: int | None = None,
        grace_seconds: float = 2.0,
        observer: DeliveryObserver | None = None,
    ) -> None:
        """`lease`: how long a claimed job is this deliverer's before another may claim it
        (default: longer than the agent's and WAHA's timeouts together, `replies.lease_for`);
        `concurrency` / `per_channel`: deliveries at once in all / of one channel (default:
        the settings'); `grace_seconds`: how long `close()` lets deliveries under way end."""
        self.database = database
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.lease = replies.lease_for(settings) if lease is None else lease
        self.concurrency = concurrency or settings.agent_concurrency
        self.per_channel = per_channel or settings.agent_channel_concurrency
        self.grace_seconds = grace_seconds
        self.observer = observer or DeliveryObserver()
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        # the deliveries' database work: reads in parallel (writes queue on SQLite's lock);
        # the intake (claims, payloads) on threads of its own, ahead of the replies' writes
        threads = min(DB_THREADS, self.concurrency)
        self._db = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="agent-db")
        self._intake = ThreadPoolExecutor(
            max_workers=min(INTAKE_THREADS, self.concurrency), thread_name_prefix="agent-intake"
        )
        self._claims = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-claims")
        self._agents = OutboundSessions(settings.agent_timeout_seconds)
        self._waha = OutboundSessions(settings.waha_send_timeout_seconds)
        self._queue = DeliveryQueue(database, self.lease, self.per_channel)
        self._sqlite = database.backend == "sqlite"  # one write lock: claims look first
        self._gate = WriteGate(enabled=self._sqlite)
        self._attempts = Attempts(
            database,
            settings,
            lease=self.lease,
            max_attempts=max_attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            agents=self._agents,
            waha=self._waha,
            executor=self._db,
            intake=self._intake,
            gate=self._gate,
        )
        self._bounds = Bounds(self.concurrency, self.per_channel, self._woken)
        self._flights = Flights(
            self._attempts, self._bounds, self.observer, self._in_db, self._woken
        )
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None
        self._closed = False
        self.rounds = 0
        """Rounds of the started deliverer so far (each ends with a sleep until it is due)."""

    # -- the life of the deliverer ------------------------------------------------------------

    def start(self) -> Self:
        """Deliver in a thread of its own until `close()`; returns itself."""
        if self.database.backend == "postgresql":  # listening before the first round
            self._listener = Listener(self.database.engine, AGENT_JOBS, self.poll_seconds)
            self._listener.listen()
        self._thread = threading.Thread(target=self._run, name="agent-delivery", daemon=True)
        self._thread.start()
        if self._listener is not None:
            threading.Thread(target=self._listen, name="agent-listen", daemon=True).start()
        return self

    def wake(self) -> None:
        """Look for due jobs now (a job was created); any thread may call it."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    def close(self) -> None:
        """Stop: deliveries under way get `grace_seconds` to end, the others are cancelled and
        their jobs released (delivered again later, by this server or another)."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self.wake()
        if self._listener is not None:
            self._listener.interrupt()
        if self._thread is not None:  # it closes its loop on its way out
            self._thread.join(self.grace_seconds + 10)
            if self._thread.is_alive():
                logger.error("agent delivery: the deliverer did not stop in time")
                return
        else:
            self._runner.run(self._agents.close())
            self._runner.run(self._waha.close())
            self._runner.close()
        self._claims.shutdown(wait=True)
        self._intake.shutdown(wait=True)
        self._db.shutdown(wait=True)

    @property
    def in_flight(self) -> int:
        """Deliveries under way now."""
        return len(self._flights)

    def run_once(self, now: datetime | None = None) -> int:
        """Deliver the jobs due at `now`, concurrently (within the bounds), on the caller's
        thread; how many were claimed. Whatever a job's delivery raises fails that job only."""
        if self._closed:
            raise RuntimeError("the agent deliverer is closed")
        return self._runner.run(self._once(now))

    async def _once(self, now: datetime | None) -> int:
        claimed = await self._claim(now or datetime.now(UTC))
        await self._flights.join()
        return claimed

    def _run(self) -> None:
        try:
            self._runner.run(self._main())
        except Exception:  # noqa: BLE001 - logged; the server goes on without deliveries
            logger.exception("agent delivery stopped")
        finally:
            self._runner.close()

    def _listen(self) -> None:
        listener = self._listener
        assert listener is not None
        try:
            while not self._stopping.is_set():
                if listener.wait(self.idle_seconds):
                    self.wake()
        finally:
            listener.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    wait = await self._round()
                except Exception:  # noqa: BLE001 - the next round tries again; nothing lost
                    logger.exception("agent delivery: a round failed")
                    wait = self.poll_seconds
                self.rounds += 1
                if wait > 0 and not self._stopping.is_set():
                    if self._listener is None:  # SQLite: nobody notifies, poll
                        wait = min(wait, self.poll_seconds)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), min(wait, self.idle_seconds))
        finally:
            await self._stop_flights()
            await self._agents.close()
            await self._waha.close()

    async def _round(self) -> float:
        """Claim what is due and may be delivered now; the seconds until the next look."""
        now = datetime.now(UTC)
        rooms = self._bounds.rooms(len(self._flights))
        if min(max(rooms[:2]), rooms[2]) <= 0:
            return self.idle_seconds  # a delivery that ends wakes the loop
        if not self._sqlite and await self._claim(now, rooms):
            return 0.0  # more may be due
        full = self._bounds.full
        due = await self._in_claims(self._queue.next_due, full(JOB), full(SEND))
        if due is None:
            return self.idle_seconds
        if due > now:
            return (due - now).total_seconds() + 0.001
        if self._sqlite and await self._claim(now, rooms):  # a claim takes the write lock
            return 0.0  # more may be due
        return self.poll_seconds  # held by another process, or of a channel at its bound

    async def _claim(self, now: datetime, rooms: tuple[int, int, int] | None = None) -> int:
        rooms = rooms or self._bounds.rooms(len(self._flights))
        if min(max(rooms[:2]), rooms[2]) <= 0:
            return 0
        busy = self._bounds.busy
        jobs, sends = await self._in_claims(
            self._claim_in_db, now, rooms, dict(busy[JOB]), dict(busy[SEND])
        )
        for job in jobs:
            waited = (now - job.created_at).total_seconds() if job.attempts == 1 else 0.0
            self.observer.claimed(max(0.0, waited))
            self._flights.fly(JOB, job, f"agent-job-{job.id}")
        for send in sends:
            self._flights.fly(SEND, send, f"outbound-{send.message_id}")
        return len(jobs) + len(sends)

    def _claim_in_db(self, *args: Any) -> tuple[list[Any], list[Any]]:
        with self._gate.write(first=True):
            return self._queue.claim(*args)

    def _woken(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _stop_flights(self) -> None:
        """Let deliveries under way end within the grace, cancel the rest, release them."""
        if not self._flights:
            return
        stopped = await self._flights.stop(self.grace_seconds)
        self._claims.shutdown(wait=True)  # writes under way end before anything is released
        self._intake.shutdown(wait=True)
        self._db.shutdown(wait=True)
        if stopped:
            jobs = [row for kind, row in stopped if kind == JOB]
            released = self._queue.release(jobs, [row for kind, row in stopped if kind == SEND])
            logger.info("agent delivery: %d delivery(ies) released on the way out", released)

    async def _in_db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, function, *args)

    async def _in_claims(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._claims, function, *args)
