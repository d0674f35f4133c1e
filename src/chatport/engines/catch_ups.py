"""When `chatport serve` catches up (`ingest.catch_up`): at its start and every
`CHATPORT_CATCHUP_EVERY_MINUTES` for every channel with a WAHA URL, when a channel's session
is WORKING again, and by hand (API, console). One thread takes the triggers in turn and hands
each to the engine's starter (`inprocess.catch_ups`, `temporal.catch_ups`); a trigger never
waits for a catch-up to run, only for it to start."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from typing import Any, Protocol

from chatport.ingest.catch_up import CatchUpStart

logger = logging.getLogger(__name__)
_ALL = "all"


class CatchUpStarter(Protocol):
    """An engine's way to start (or coalesce into) a channel's catch-up."""

    def start(self, channel_id: int, *, again: bool) -> CatchUpStart:
        """Start the channel's catch-up, or leave it to the running one (asked to run once
        more when `again`)."""

    def close(self) -> None:
        """Stop starting; running catch-ups go on (or are interrupted, resumably)."""


class CatchUpTriggers:
    """The triggers of one server process (see the module docstring)."""

    def __init__(
        self,
        starter: CatchUpStarter,
        channels: Callable[[], list[int]],
        every: timedelta | None,
        *,
        on_start: Callable[[CatchUpStart], None] | None = None,
    ) -> None:
        """`channels()`: the channels a periodic round covers; `every`: the round's period
        (None: only the first, at start); `on_start` hears of every catch-up started or
        coalesced (metrics, tests)."""
        self.starter = starter
        self.channels = channels
        self.every = every
        self._on_start = on_start or (lambda started: None)
        self._queue: queue.SimpleQueue[tuple[Any, Future | None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="catch-ups", daemon=True)

    def start(self) -> CatchUpTriggers:
        """Begin: the channels there are now at once (the server's start; read here, so a
        channel given a WAHA URL after the start waits for a trigger), then every `every`."""
        self._queue.put((self._channels(), None))
        self._thread.start()
        return self

    def trigger(self, channel_id: int) -> CatchUpStart:
        """Catch the channel up now (by hand): the job started, or the running one it was
        left to; the engine's error (no WAHA URL, Temporal unreachable) is raised here."""
        future: Future[CatchUpStart] = Future()
        self._queue.put((channel_id, future))
        return future.result()

    def reconnected(self, channel_id: int) -> None:
        """The channel's session is WORKING after another state: catch it up (returns at
        once)."""
        self._queue.put((channel_id, None))

    def reconcile(self) -> None:
        """A periodic round now (returns at once)."""
        self._queue.put((_ALL, None))

    def close(self) -> None:
        """Stop the thread (a trigger in its hands is finished first), then the starter."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self.starter.close()

    def _run(self) -> None:
        every = self.every
        next_round = time.monotonic() + every.total_seconds() if every else None
        while True:
            wait = None if next_round is None else max(0.0, next_round - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = (_ALL, None)
            if item is None:
                return
            target, future = item
            if target == _ALL or isinstance(target, list):
                self._round(self._channels() if target == _ALL else target)
                if target == _ALL and every:
                    next_round = time.monotonic() + every.total_seconds()
                continue
            try:
                started = self.starter.start(target, again=True)
            except Exception as error:  # noqa: BLE001 - told to the caller, or logged
                if future is None:
                    logger.exception("catch-up of channel %s not started", target)
                else:
                    future.set_exception(error)
                continue
            self._on_start(started)
            if future is not None:
                future.set_result(started)

    def _channels(self) -> list[int]:
        try:
            return self.channels()
        except Exception:  # noqa: BLE001 - the next round tries again
            logger.exception("catch-up round: the channels could not be read")
            return []

    def _round(self, channels: list[int]) -> None:
        """Each channel once; a periodic round never asks a running catch-up for another
        (the next round covers what it left)."""
        for channel_id in channels:
            try:
                self._on_start(self.starter.start(channel_id, again=False))
            except Exception:  # noqa: BLE001 - one channel's failure is not the others'
                logger.exception("catch-up of channel %s not started", channel_id)
