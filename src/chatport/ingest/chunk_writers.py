"""Threads that write an import's chunks, so the database works while Python does.

Each fetcher's chunks go to one thread (its lane), in the order the fetcher sent them: a chat
belongs to one fetcher, so its parts, and the checkpoint that marks it done, commit in order
(a chat is never recorded done before its earlier parts are stored). With two lanes on
PostgreSQL one thread decodes its chunk and builds and sends its rows while the server
indexes the other's. A lane holds at most one chunk waiting, so memory stays bounded by the
chunk size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")

_POLL_SECONDS = 0.2


class ChunkWriters(Generic[Item]):
    """`lanes` threads calling `write(item)`; use as a context manager: leaving it stops the
    threads after the write each one is in (a transaction is never cut short)."""

    def __init__(self, write: Callable[[Item], None], lanes: int) -> None:
        self._write = write
        self._lanes: list[queue.Queue[Item | None]] = [queue.Queue(1) for _ in range(lanes)]
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, args=(lane,), daemon=True, name=f"writer-{i}")
            for i, lane in enumerate(self._lanes)
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> ChunkWriters[Item]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def check(self) -> None:
        """Raise the error that stopped a writer thread, if one did."""
        if self._failure is not None:
            raise self._failure

    def submit(self, item: Item, lane: int, halt: Callable[[], None]) -> None:
        """Queue `item` on `lane` (modulo the lanes), waiting while that lane is busy;
        `halt()` is called while waiting and may raise to give up."""
        self._put(self._lanes[lane % len(self._lanes)], item, halt)

    def finish(self, halt: Callable[[], None]) -> None:
        """Wait until everything submitted is written; raise a writer's error."""
        for lane in self._lanes:
            self._put(lane, None, halt)
        for thread in self._threads:
            while thread.is_alive():
                self.check()
                halt()
                thread.join(_POLL_SECONDS)
        self.check()

    def _put(self, lane: queue.Queue[Item | None], item: Item | None, halt: Callable) -> None:
        while True:
            self.check()
            halt()
            try:
                lane.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _run(self, lane: queue.Queue[Item | None]) -> None:
        while not self._stopping.is_set():
            try:
                item = lane.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if item is None:
                return
            try:
                self._write(item)
            except BaseException as error:  # noqa: BLE001 - the caller re-raises it
                self._failure = self._failure or error
                self._stopping.set()
                return
