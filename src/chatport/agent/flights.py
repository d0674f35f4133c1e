"""A deliverer's deliveries under way: each a task of its own, on its channel's slots.

`Flights.fly(kind, row, name)` starts one. A job (`JOB`) holds a job slot of its channel while
its agent is asked (`attempt.py`) and frees it when the agent answered; its reply's send, when
claimed at once, holds a send slot of the channel; a claimed send (`SEND`) holds a send slot
(`bounds.py`). A job never stops the deliverer: whatever its delivery raises (an in-process
agent's SystemExit or KeyboardInterrupt included) fails that job only, logged with its id.
`stop(grace_seconds)` lets deliveries under way end within the grace, cancels the others and
returns their rows, for the deliverer to release.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chatport.agent.asking import AGENT_FAILURES
from chatport.agent.attempt import Attempts, Send, Slots
from chatport.agent.bounds import JOB, SEND, Bounds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryObserver:
    """What a deliverer tells of its work (metrics): `claimed(seconds)` for each job claimed,
    the seconds it waited past its due time; `delivered(outcome, seconds)` for each attempt
    (`sent`, `stored`, `no_reply`, `waiting`, `failed`, `send_failed`, `taken_over`)."""

    claimed: Callable[[float], None] = lambda seconds: None
    delivered: Callable[[str, float], None] = lambda outcome, seconds: None


class Flights:
    """The deliveries under way: `fly()` one, `len()` of them, `join()` or `stop()` them."""

    def __init__(
        self,
        attempts: Attempts,
        bounds: Bounds,
        observer: DeliveryObserver,
        in_db: Callable[..., Awaitable[Any]],
        woken: Callable[[], None],
    ) -> None:
        """`in_db(function, *args)`: runs database work off the loop; `woken()`: called when
        a delivery ends (its slots are free: the deliverer may claim more)."""
        self._attempts = attempts
        self._bounds = bounds
        self._observer = observer
        self._in_db = in_db
        self._woken = woken
        self._tasks: dict[asyncio.Task, tuple[str, Any]] = {}  # task -> (JOB/SEND, row)

    def __len__(self) -> int:
        return len(self._tasks)

    def fly(self, kind: str, row: Any, name: str) -> None:
        """Deliver `row` (a claimed job or send) in a task of its own, on a slot of its kind."""
        task = asyncio.create_task(self._deliver(kind, row), name=name)
        self._tasks[task] = (kind, row)
        self._bounds.take(kind, row.channel_id)

    async def join(self) -> None:
        """Wait for every delivery under way to end."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self, grace_seconds: float) -> list[tuple[str, Any]]:
        """Let deliveries under way end within the grace, cancel the rest; theirs (kind, row)."""
        if not self._tasks:
            return []
        _, pending = await asyncio.wait(list(self._tasks), timeout=grace_seconds)
        stopped = [self._tasks[task] for task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return stopped

    async def _deliver(self, kind: str, job: Any) -> None:
        """Deliver a job: its slot is held while its agent is asked, and freed when the agent
        answered; its reply's send (when claimed at once) holds a send slot of the channel.
        Or send a claimed send, on its send slot."""
        started = time.monotonic()
        outcome = "failed"
        task = asyncio.current_task()
        channel_id = job.channel_id
        held = {JOB: kind == JOB, SEND: kind == SEND}

        def answered() -> None:
            if held[JOB]:
                held[JOB] = False
                self._bounds.free(JOB, channel_id)

        def send_slot() -> bool:
            held[SEND] = self._bounds.take_send(channel_id)
            return held[SEND]

        try:
            if kind == JOB:
                result = await self._attempts.deliver(job, Slots(answered, send_slot))
                if isinstance(result, Send):  # the reply is stored: its send goes on
                    kind, job = SEND, result
                    self._tasks[task] = (SEND, result)  # type: ignore[index]
                else:
                    outcome = result
            if kind == SEND:
                outcome = await self._attempts.send(job)
        except asyncio.CancelledError:
            outcome = "released"
            raise
        except BaseException as error:  # noqa: BLE001 - an in-process agent may raise anything
            if kind == SEND:  # a bug: the send is claimed again when its lease ends
                logger.exception("outbound message %s: sending it failed", job.message_id)
                return
            if not isinstance(error, AGENT_FAILURES):  # a failed attempt, or a bug (traceback)
                logger.exception("agent job %s: delivering it failed", job.id)
            try:
                await self._in_db(self._attempts.failed, job, _described(error))
            except Exception:  # noqa: BLE001 - the job is claimed again when its lease ends
                logger.exception("agent job %s: recording its failure failed", job.id)
        finally:
            self._observer.delivered(outcome, time.monotonic() - started)
            self._tasks.pop(task, None)  # type: ignore[arg-type]
            for slot in (JOB, SEND):
                if held[slot]:
                    self._bounds.free(slot, channel_id)
            self._woken()


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
