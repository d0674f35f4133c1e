"""The live writer in a process of its own, so HTTP handling and writing run on two cores
instead of sharing one interpreter lock.

The API process sends each delivery (a sequence number, its channel, its envelope) as a frame
on the child's stdin (`frames.py`); the child runs a `LiveWriter` (group commit) and answers
each with its `Result` (or the error's text), plus one `written` frame per committed group for
the metrics. A future completes when the child's transaction committed, as with the in-process
writer. If the child dies, every pending delivery fails (WAHA retries it) and the next delivery
starts a new child.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any

import chatport
from chatport.domain.model import Channel
from chatport.ingest.frames import read_frame, write_frame
from chatport.ingest.live import Result
from chatport.settings import Settings
from chatport.sources.waha_webhooks import Envelope

WRITER_COMMAND = ["-c", "from chatport.ingest.live_process import main; main()"]


class LiveWriterProcess:
    """`submit`/`close` as `LiveWriter`, with the writing done by a child process."""

    def __init__(
        self,
        settings: Settings,
        on_written: Callable[[int, float], None] | None = None,
    ) -> None:
        """`on_written(created, seconds)` is told of every committed group (metrics)."""
        self.settings = settings
        self._on_written = on_written or (lambda created, seconds: None)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Future[Result], subprocess.Popen]] = {}
        self._numbers = itertools.count()
        self._child: subprocess.Popen | None = None

    def submit(self, channel: Channel, envelope: Envelope) -> Future[Result]:
        """Send a delivery to the writer process; the future completes once it committed."""
        future: Future[Result] = Future()
        with self._lock:
            child = self._running_child()
            number = next(self._numbers)
            self._pending[number] = (future, child)
            try:
                write_frame(child.stdin, ("deliver", number, channel, envelope))
            except OSError as error:  # the child is gone: its reader fails the rest
                self._pending.pop(number, None)
                future.set_exception(RuntimeError(f"the live writer process is gone: {error}"))
        return future

    def close(self) -> None:
        """Let the child write what it was sent, then stop it."""
        with self._lock:
            child, self._child = self._child, None
        if child is None:
            return
        child.stdin.close()  # end of deliveries: the child drains its writer and exits
        child.wait()

    def _running_child(self) -> subprocess.Popen:
        """The writer process, started when there is none (the reader of a child that stopped
        clears it, so nothing is sent to a child nobody reads)."""
        if self._child is not None and self._child.poll() is None:
            return self._child
        source = str(Path(chatport.__file__).parent.parent)
        path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
        child = subprocess.Popen(
            [sys.executable, *WRITER_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        write_frame(child.stdin, self.settings)
        threading.Thread(target=self._read, args=(child,), daemon=True).start()
        self._child = child
        return child

    def _read(self, child: subprocess.Popen) -> None:
        try:
            while True:
                kind, *values = pickle.loads(read_frame(child.stdout))
                if kind == "written":
                    self._on_written(*values)
                    continue
                number, outcome = values
                with self._lock:
                    future, _ = self._pending.pop(number, (None, None))
                if future is None:
                    continue
                if isinstance(outcome, Result):
                    future.set_result(outcome)
                else:
                    future.set_exception(RuntimeError(outcome))
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            reason = f"the live writer process stopped ({type(error).__name__})"
            with self._lock:
                if self._child is child:
                    self._child = None
                lost = [n for n, (_, sent_to) in self._pending.items() if sent_to is child]
                futures = [self._pending.pop(number)[0] for number in lost]
            for future in futures:
                future.set_exception(RuntimeError(reason))


def main() -> None:
    """The writer process (`WRITER_COMMAND`): Settings, then deliveries, on stdin; results
    and `written` counts on stdout. Ends when stdin closes, after writing what it received."""
    from chatport.bootstrap import build
    from chatport.ingest.live import LiveWriter

    for stop in (signal.SIGINT, signal.SIGTERM):  # the API process stops it, by closing stdin
        signal.signal(stop, signal.SIG_IGN)
    source, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frames
    settings = pickle.loads(read_frame(source))
    services = build(settings)
    lock = threading.Lock()

    def send(item: Any) -> None:
        with lock:
            write_frame(out, item)

    writer = LiveWriter(
        services.database,
        receipts_kept=timedelta(hours=settings.webhook_receipt_hours),
        on_written=lambda channel, result, seconds: send(("written", result.created, seconds)),
    )

    def answer(number: int, future: Future[Result]) -> None:
        error = future.exception()
        send(("result", number, future.result() if error is None else f"{error}"))

    try:
        while True:
            try:
                frame = read_frame(source)
            except EOFError:
                break
            _, number, channel, envelope = pickle.loads(frame)
            writer.submit(channel, envelope).add_done_callback(
                lambda future, number=number: answer(number, future)
            )
    finally:
        writer.close()
        services.close()
