"""Threads that write an import's chunks in the main process (SQLite, whose fetch processes
send their chunks there), so the database works while Python does.

A lane writes its chunks in the order they were handed over: a chat belongs to one fetcher,
whose chunks keep their order, so its parts, and the checkpoint that marks it done, commit in
order (a chat is never recorded done before its earlier parts are stored). The import uses
one lane (SQLite takes one writer at a time); several lanes write concurrently.

A lane is two threads. Its writer writes one chunk at a time; its preparer decodes the next
one while the writer's database works without the interpreter lock: from the moment the
writer says it is committing (`quiet`) until it takes up the next chunk. Preparing at any
other time would take the lock from under the writer between two rows of a bulk insert, which
gives it back after every row. A lane takes a chunk only when it may prepare it (`submit`
waits until then, the chunk still the caller's): per lane one chunk waits in its producer,
one is prepared and one written, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")

_POLL_SECONDS = 0.2


class _Lane(Generic[Item, Prepared]):
    def __init__(self) -> None:
        self.waiting: queue.Queue[tuple[Item, threading.Event] | None] = queue.Queue(1)
        """An item handed over and the event its preparer sets on taking it; None: the end."""
        self.ready: queue.Queue[Prepared | None] = queue.Queue(1)
        self.slot = threading.Semaphore(1)
        """Held from before the preparer takes a chunk until the writer takes it up."""
        self.hungry = threading.Event()
        """Set while the preparer waits for an item it may prepare at once."""
        self.quiet = threading.Event()
        self.quiet.set()


class ChunkWriters(Generic[Item, Prepared]):
    """`lanes` lanes, each calling `write(prepare(item), quiet)` for its items in order;
    `write` calls `quiet()` when the rest of its work leaves the interpreter lock free (just
    before its commit). Use as a context manager: leaving it stops the threads after the
    write each one is in (a transaction is never cut short)."""

    def __init__(
        self,
        prepare: Callable[[Item], Prepared],
        write: Callable[[Prepared, Callable[[], None]], None],
        lanes: int,
    ) -> None:
        self._prepare = prepare
        self._write = write
        self._lanes: list[_Lane[Item, Prepared]] = [_Lane() for _ in range(lanes)]
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._threads = [
            threading.Thread(target=run, args=(lane,), daemon=True, name=f"{name}-{i}")
            for i, lane in enumerate(self._lanes)
            for name, run in (("preparer", self._run_preparer), ("writer", self._run_writer))
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> ChunkWriters[Item, Prepared]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def check(self) -> None:
        """Raise the error that stopped a lane's thread, if one did."""
        if self._failure is not None:
            raise self._failure

    def submit(self, item: Item, lane: int, halt: Callable[[], None] | None = None) -> bool:
        """Hand `item` to `lane` (modulo the lanes) and wait until its preparer takes it,
        which it does once it may prepare it: a producer that calls this before it reads its
        next item never holds more than one. Safe from several threads at once. True once
        taken; False if the lanes stopped first. With `halt`, it is called while waiting and
        may raise to give up, and a lane's error is raised; without, a lane's error ends the
        wait (False) and is left for `check` or `finish` to raise."""
        taken = threading.Event()
        box = self._lanes[lane % len(self._lanes)].waiting
        if not self._put(box, (item, taken), halt):
            return False
        return self._wait(lambda: taken.wait(_POLL_SECONDS), halt)

    def wait_for_room(self, lane: int) -> bool:
        """Wait until `lane` (modulo the lanes) would take an item at once; False once the
        lanes stopped. A producer that calls it before reading its next item keeps that
        item out of memory (in its pipe, say) while the lane is busy."""
        hungry = self._lanes[lane % len(self._lanes)].hungry
        return self._wait(lambda: hungry.wait(_POLL_SECONDS))

    def finish(self, halt: Callable[[], None]) -> None:
        """Wait until everything submitted is written; raise a lane's error."""
        for lane in self._lanes:
            self._put(lane.waiting, None, halt)
        for thread in self._threads:
            while thread.is_alive():
                self.check()
                halt()
                thread.join(_POLL_SECONDS)
        self.check()

    def _put(self, box: queue.Queue, item: object, halt: Callable[[], None] | None) -> bool:
        """Put `item` in `box`; False if the lanes stopped first. With `halt` (the caller's
        thread), a lane's error is raised and `halt()` called while waiting."""
        while not self._stopping.is_set():
            if halt is not None:
                self.check()
                halt()
            try:
                box.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, box: queue.Queue) -> tuple[bool, object]:
        """(True, the next thing in `box`), or (False, None) once the lanes stop."""
        while not self._stopping.is_set():
            try:
                return True, box.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
        return False, None

    def _run_preparer(self, lane: _Lane[Item, Prepared]) -> None:
        # The slot first: a chunk taken before it would be held (megabytes) while the writer
        # is busy, and its producer would go on to read the next one.
        while self._wait(lambda: lane.slot.acquire(timeout=_POLL_SECONDS)):
            if not self._prepare_next(lane):
                return

    def _prepare_next(self, lane: _Lane[Item, Prepared]) -> bool:
        """Take the lane's next item, prepare it once the writer is quiet and pass it on;
        False at the end, on a failure or once the lanes stop. (A call of its own, so that
        nothing of the item outlives its preparation.)"""
        lane.hungry.set()
        got, handed = self._get(lane.waiting)
        lane.hungry.clear()
        if not got:
            return False
        if handed is None:
            self._put(lane.ready, None, None)
            return False
        item, taken = handed
        taken.set()
        del handed
        if not self._wait(lambda: lane.quiet.wait(_POLL_SECONDS)):
            return False
        try:
            prepared = self._prepare(item)
        except BaseException as error:  # noqa: BLE001 - the caller re-raises it
            self._fail(error)
            return False
        del item
        return self._put(lane.ready, prepared, None)

    def _run_writer(self, lane: _Lane[Item, Prepared]) -> None:
        while self._write_next(lane):
            pass

    def _write_next(self, lane: _Lane[Item, Prepared]) -> bool:
        """Write the lane's next prepared item; False at the end or on a failure. (A call of
        its own, so the item is dropped before the writer waits for the next.)"""
        got, prepared = self._get(lane.ready)
        if not got or prepared is None:
            return False
        lane.quiet.clear()
        lane.slot.release()
        try:
            self._write(prepared, lane.quiet.set)
        except BaseException as error:  # noqa: BLE001 - the caller re-raises it
            self._fail(error)
            return False
        finally:
            lane.quiet.set()
        return True

    def _wait(self, done: Callable[[], bool], halt: Callable[[], None] | None = None) -> bool:
        """Call `done()` (which waits a little) until it is true; False once lanes stop.
        With `halt`, it is called (and a lane's error raised) between waits."""
        while not done():
            if halt is not None:
                self.check()
                halt()
            if self._stopping.is_set():
                return False
        return True

    def _fail(self, error: BaseException) -> None:
        self._failure = self._failure or error
        self._stopping.set()
