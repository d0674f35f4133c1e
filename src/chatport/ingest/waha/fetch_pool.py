"""The import step's side of its fetch processes: start them, hand each its plan, relay what
they send."""

from __future__ import annotations

import pickle
import queue as queues
import subprocess
import threading
from collections.abc import Callable

from chatport.ingest.waha.chunk_step import Written
from chatport.ingest.waha.chunks import PackedChunk
from chatport.ingest.waha.fetch_plan import Fetched, FetchPlan, Finished, Listed
from chatport.ingest.waha.fetch_process import FETCH_COMMAND
from chatport.ingest.waha.writer_thread import ChunkWriter
from chatport.runtime.frames import Frame, read_frame, start_child

_POLL_SECONDS = 0.2


class FetchProcesses:
    """Fetch processes (`fetch_process.main`), started at once: they load their modules, then
    wait for their plans (`fetch`). A relay thread per process reads its frames: it hands
    each chunk, still packed, straight to the writer, and reads the next frame only once it
    would take it at once (while it is busy, a chunk waits in the fetcher and its pipe, not
    in this process); the other frames (progress, chunks written by the fetcher
    itself, the end) go to `next`, in order after the chunks before them."""

    def __init__(self, count: int) -> None:
        self.items: queues.Queue[Listed | Fetched | Written | Finished | BaseException] = (
            queues.Queue()
        )
        self.stopping = threading.Event()
        self.finished = self.ended = 0
        self.processes = [start_child(FETCH_COMMAND) for _ in range(count)]

    def fetch(self, plans: list[FetchPlan], writer: ChunkWriter | None) -> None:
        """Give each process its plan (one each) and relay what they send (chunks to
        `writer`; None: the processes write their own chunks)."""
        self.writer = writer
        for process, plan in zip(self.processes, plans, strict=True):
            threading.Thread(target=self._relay, args=(process, plan), daemon=True).start()

    def __enter__(self) -> FetchProcesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Kill the processes (a transaction of theirs in flight is rolled back, unless its
        commit was already sent) and wait for them."""
        self.stopping.set()
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()

    def next(self, halt: Callable[[], None]) -> Listed | Fetched | Written | Finished:
        """The next frame of any fetcher that is not a chunk; `halt()` is called while
        waiting and may raise to give up."""
        while True:
            halt()
            try:
                item = self.items.get(timeout=_POLL_SECONDS)
            except queues.Empty:
                continue
            if not isinstance(item, BaseException):
                self.finished += isinstance(item, Finished)
                return item
            self.ended += 1  # a pipe closed: after its Finished, unless the process died
            if self.ended > self.finished:
                return Finished(item)

    def _relay(self, process: subprocess.Popen, plan: FetchPlan) -> None:
        try:
            process.stdin.write(pickle.dumps(plan))
            process.stdin.close()
            writer = self.writer
            while (writer is None or writer.wait_for_room()) and self._pass_on(
                read_frame(process.stdout)
            ):
                pass
        except Exception as error:  # noqa: BLE001 - the writer must hear of any end
            if self.stopping.is_set():
                return
            process.kill()
            self.items.put(
                RuntimeError(
                    f"a fetch process stopped without a word (exit {process.wait()}; "
                    f"{type(error).__name__}: {error})"
                )
            )

    def _pass_on(self, frame: Frame) -> bool:
        """Hand a chunk to the writer (False once it stopped), queue anything else."""
        item = frame.load()
        if isinstance(item, PackedChunk):
            return self.writer.submit(item)
        self.items.put(item)
        return True
