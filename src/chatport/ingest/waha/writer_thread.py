"""The threads that write an import's chunks in the main process (SQLite, one writer at a
time, whose fetch processes send their chunks there), so the database works while Python does.

Chunks are written in the order they were handed over: a chat belongs to one fetcher, whose
chunks keep their order, so its parts, and the checkpoint that marks it done, commit in order
(a chat is never recorded done before its earlier parts are stored).

Two threads: the writer writes one chunk at a time; the preparer decodes the next one while
the writer's database works without the interpreter lock: from the moment the writer says it
is committing (`quiet`) until it takes up the next chunk. Preparing at any other time would
take the lock from under the writer between two rows of a bulk insert, which gives it back
after every row. A chunk is taken only when it may be prepared (`submit` waits until then,
the chunk still the caller's): one chunk waits in each producer, one is prepared and one
written, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")

_POLL_SECONDS = 0.2


class ChunkWriter(Generic[Item, Prepared]):
    """Calls `write(prepare(item), quiet)` for its items in order; `write` calls `quiet()`
    when the rest of its work leaves the interpreter lock free (just before its commit). Use
    as a context manager: leaving it stops the threads after the write in progress (a
    transaction is never cut short)."""

    def __init__(
        self,
        prepare: Callable[[Item], Prepared],
        write: Callable[[Prepared, Callable[[], None]], None],
    ) -> None:
        self._prepare = prepare
        self._write = write
        self._waiting: queue.Queue[tuple[Item, threading.Event] | None] = queue.Queue(1)
        """An item handed over and the event its preparer sets on taking it; None: the end."""
        self._ready: queue.Queue[Prepared | None] = queue.Queue(1)
        self._slot = threading.Semaphore(1)
        """Held from before the preparer takes a chunk until the writer takes it up."""
        self._hungry = threading.Event()
        """Set while the preparer waits for an item it may prepare at once."""
        self._quiet = threading.Event()
        self._quiet.set()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run_preparer, daemon=True, name="preparer"),
            threading.Thread(target=self._run_writer, daemon=True, name="writer"),
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> ChunkWriter[Item, Prepared]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def check(self) -> None:
        """Raise the error that stopped a thread, if one did."""
        if self._failure is not None:
            raise self._failure

    def submit(self, item: Item, halt: Callable[[], None] | None = None) -> bool:
        """Hand `item` over and wait until the preparer takes it, which it does once it may
        prepare it: a producer that calls this before it reads its next item never holds
        more than one. Safe from several threads at once, each producer's items written in
        its order. True once taken; False if the threads stopped first. With `halt`, it is
        called while waiting and may raise to give up, and a thread's error is raised;
        without, a thread's error ends the wait (False) and is left for `check` or `finish`
        to raise."""
        taken = threading.Event()
        if not self._put(self._waiting, (item, taken), halt):
            return False
        return self._wait(lambda: taken.wait(_POLL_SECONDS), halt)

    def wait_for_room(self) -> bool:
        """Wait until an item would be taken at once; False once the threads stopped. A
        producer that calls it before reading its next item keeps that item out of memory
        (in its pipe, say) while the writer is busy."""
        return self._wait(lambda: self._hungry.wait(_POLL_SECONDS))

    def finish(self, halt: Callable[[], None]) -> None:
        """Wait until everything submitted is written; raise a thread's error."""
        self._put(self._waiting, None, halt)
        for thread in self._threads:
            while thread.is_alive():
                self.check()
                halt()
                thread.join(_POLL_SECONDS)
        self.check()

    def _put(self, box: queue.Queue, item: object, halt: Callable[[], None] | None) -> bool:
        """Put `item` in `box`; False if the threads stopped first. With `halt` (the
        caller's thread), a thread's error is raised and `halt()` called while waiting."""
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
        """(True, the next thing in `box`), or (False, None) once the threads stop."""
        while not self._stopping.is_set():
            try:
                return True, box.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
        return False, None

    def _run_preparer(self) -> None:
        # The slot first: a chunk taken before it would be held (megabytes) while the writer
        # is busy, and its producer would go on to read the next one.
        while self._wait(lambda: self._slot.acquire(timeout=_POLL_SECONDS)):
            if not self._prepare_next():
                return

    def _prepare_next(self) -> bool:
        """Take the next item, prepare it once the writer is quiet and pass it on; False at
        the end, on a failure or once the threads stop. (A call of its own, so that nothing
        of the item outlives its preparation.)"""
        self._hungry.set()
        got, handed = self._get(self._waiting)
        self._hungry.clear()
        if not got:
            return False
        if handed is None:
            self._put(self._ready, None, None)
            return False
        item, taken = handed
        taken.set()
        del handed
        if not self._wait(lambda: self._quiet.wait(_POLL_SECONDS)):
            return False
        try:
            prepared = self._prepare(item)
        except BaseException as error:  # noqa: BLE001 - the caller re-raises it
            self._fail(error)
            return False
        del item
        return self._put(self._ready, prepared, None)

    def _run_writer(self) -> None:
        while self._write_next():
            pass

    def _write_next(self) -> bool:
        """Write the next prepared item; False at the end or on a failure. (A call of its
        own, so the item is dropped before the writer waits for the next.)"""
        got, prepared = self._get(self._ready)
        if not got or prepared is None:
            return False
        self._quiet.clear()
        self._slot.release()
        try:
            self._write(prepared, self._quiet.set)
        except BaseException as error:  # noqa: BLE001 - the caller re-raises it
            self._fail(error)
            return False
        finally:
            self._quiet.set()
        return True

    def _wait(self, done: Callable[[], bool], halt: Callable[[], None] | None = None) -> bool:
        """Call `done()` (which waits a little) until it is true; False once the threads
        stop. With `halt`, it is called (and a thread's error raised) between waits."""
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
