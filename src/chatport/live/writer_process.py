"""The live writer in processes of its own, so HTTP handling and writing run on separate
cores instead of sharing one interpreter lock.

The API process sends deliveries (each a sequence number, its channel, its envelope) in frames
on a child's stdin (`runtime/frames.py`), those of one event-loop turn in one frame; the child
runs a `LiveWriter` (group commit) and answers each with its `Result` (or the error's text), plus
one `written` frame per committed group for the metrics. A future completes when the child's
transaction committed, as with the in-process writer. If a child dies, every delivery pending
in it fails (WAHA retries it) and the next delivery for it starts a new child.

With several writers (PostgreSQL), deliveries are routed by their chat (`chat_key`), so one
chat's deliveries meet in one writer's groups while the writers' transactions overlap: one
writes while another waits for the database. Correctness does not depend on the routing: the
write path locks the chats it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import pickle
import signal
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta

from chatport.domain.model import Channel
from chatport.errors import DatabaseUnavailable
from chatport.live.writer import Result
from chatport.runtime.frames import read_frame, start_child, stdout_frames, write_frame
from chatport.settings import Settings
from chatport.sources.waha.webhooks import Envelope, chat_key

WRITER_COMMAND = ["-c", "from chatport.live.writer_process import main; main()"]


class LiveWriterProcess:
    """`submit`/`close` as `LiveWriter`, with the writing done by `writers` child processes."""

    def __init__(
        self,
        settings: Settings,
        on_written: Callable[[int, float], None] | None = None,
        writers: int = 1,
        on_reconnected: Callable[[int], None] | None = None,
    ) -> None:
        """`on_written(created, seconds)` is told of every committed group (metrics);
        `on_reconnected(channel_id)` of a channel whose session is WORKING again after
        another state (it must not block: it is called by a reader of the writers)."""
        self.settings = settings
        self._on_written = on_written or (lambda created, seconds: None)
        self._on_reconnected = on_reconnected or (lambda channel_id: None)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Future[Result], subprocess.Popen]] = {}
        self._numbers = itertools.count()
        self._children: list[subprocess.Popen | None] = [None] * max(1, writers)
        self._outbox: dict[subprocess.Popen, list[tuple]] = {}  # sent at the loop's next turn

    def submit(self, channel: Channel, envelope: Envelope) -> Future[Result]:
        """Send a delivery to its writer process; the future completes once it committed."""
        future: Future[Result] = Future()
        self._send(channel, envelope, future)
        return future

    async def deliver(self, channel: Channel, envelope: Envelope) -> Result:
        """`submit` for a coroutine: the outcome, once committed (the outcomes of a group
        reach the event loop in one call, not one wake-up per delivery). The deliveries of
        one turn of the event loop go to a writer as one frame (one write, one wake-up)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._send(channel, envelope, future, loop)
        return await future

    def _send(
        self,
        channel: Channel,
        envelope: Envelope,
        future: _Waiter,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        shards = len(self._children)  # one writer (the default): no payload to read
        shard = zlib.crc32(chat_key(envelope).encode()) % shards if shards > 1 else 0
        with self._lock:
            child = self._running_child(shard)
            number = next(self._numbers)
            self._pending[number] = (future, child)
            if loop is None:
                self._write(child, [(number, channel, envelope)])
                return
            outbox = self._outbox.setdefault(child, [])
            outbox.append((number, channel, envelope))
            if len(outbox) == 1:
                loop.call_soon(self._flush, child)

    def _flush(self, child: subprocess.Popen) -> None:
        with self._lock:
            items = self._outbox.pop(child, None)
            if items:
                self._write(child, items)

    def _write(self, child: subprocess.Popen, items: list[tuple]) -> None:
        """One frame of deliveries (under the lock)."""
        try:
            write_frame(child.stdin, ("deliver", items))
        except (OSError, ValueError) as error:  # the child is gone (or closed): fail them
            waiting = [self._pending.pop(number, (None,))[0] for number, _, _ in items]
            reason = f"the live writer process is gone: {error}"
            _complete_waiters([(future, reason) for future in waiting if future is not None])

    def close(self) -> None:
        """Let the children write what they were sent, then stop them."""
        with self._lock:
            children, self._children = self._children, [None] * len(self._children)
        for child in children:
            if child is not None:
                child.stdin.close()  # end of deliveries: the child drains its writer, exits
        for child in children:
            if child is not None:
                child.wait()

    def _running_child(self, shard: int) -> subprocess.Popen:
        """The shard's writer process, started when there is none (the reader of a child that
        stopped clears it, so nothing is sent to a child nobody reads)."""
        child = self._children[shard]
        if child is not None and child.poll() is None:
            return child
        child = start_child(WRITER_COMMAND)
        write_frame(child.stdin, self.settings)
        threading.Thread(target=self._read, args=(child, shard), daemon=True).start()
        self._children[shard] = child
        return child

    def _read(self, child: subprocess.Popen, shard: int) -> None:
        try:
            while True:
                kind, values = read_frame(child.stdout).load()
                if kind == "written":
                    self._on_written(*values)
                    continue
                if kind == "reconnected":
                    self._on_reconnected(values)
                    continue
                with self._lock:
                    found = [(self._pending.pop(n, (None,))[0], outcome) for n, outcome in values]
                _complete_waiters(
                    [(future, outcome) for future, outcome in found if future is not None]
                )
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            reason = f"the live writer process stopped ({type(error).__name__})"
            with self._lock:
                if self._children[shard] is child:
                    self._children[shard] = None
                lost = [n for n, (_, sent_to) in self._pending.items() if sent_to is child]
                futures = [self._pending.pop(number)[0] for number in lost]
            _complete_waiters([(future, reason) for future in futures])


_Waiter = Future | asyncio.Future
"""Who waits for a delivery: a thread (`submit`) or a coroutine (`deliver`)."""


def _complete_waiters(outcomes: list[tuple[_Waiter, Result | str]]) -> None:
    """Complete waiters with their result (or error text): thread futures at once, each
    event loop's futures in one call on that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Result | str]]] = {}
    for future, outcome in outcomes:
        if isinstance(future, asyncio.Future):
            by_loop.setdefault(future.get_loop(), []).append((future, outcome))
        else:
            _complete(future, outcome)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_complete_all, batch)


def _complete_all(batch: list[tuple[asyncio.Future, Result | str]]) -> None:
    for future, outcome in batch:
        _complete(future, outcome)


def _complete(future: _Waiter, outcome: Result | str) -> None:
    if future.done():  # a coroutine that gave up (its client went away)
        return
    if isinstance(outcome, Result):
        future.set_result(outcome)
    elif outcome.startswith(DatabaseUnavailable.PREFIX):
        future.set_exception(DatabaseUnavailable(outcome))
    else:
        future.set_exception(RuntimeError(outcome))


def main() -> None:
    """The writer process (`WRITER_COMMAND`): Settings, then deliveries, on stdin; results
    and `written` counts on stdout. Ends when stdin closes, after writing what it received."""
    from chatport.live.writer import LiveWriter
    from chatport.runtime.heap import freeze_heap
    from chatport.store.database import open_database
    from chatport.store.secret_box import SecretBox

    for stop in (signal.SIGINT, signal.SIGTERM):  # the API process stops it, by closing stdin
        signal.signal(stop, signal.SIG_IGN)
    source, send = sys.stdin.buffer, stdout_frames()
    settings = read_frame(source).load()
    key = settings.secret_key  # opens the channels' WAHA keys the LID lookups read
    secrets = SecretBox.from_setting(key.get_secret_value() if key is not None else None)
    # the schema was checked by serve, the key by the composition root (`bootstrap.secret_box`)
    database = open_database(settings.database_url, settings.session_timeout, secrets)
    writer = LiveWriter(
        database,
        receipts_kept=timedelta(hours=settings.webhook_receipt_hours),
        allow_private_urls=settings.allow_private_urls,
        dead_letters_kept=settings.dead_letters_per_channel,
        agent_everywhere=bool(settings.agent_url),
        agent_groups=settings.agent_groups,
        handoff_minutes=settings.handoff_minutes,
        on_written=lambda channel, result, seconds: send(("written", (result.created, seconds))),
        on_results=lambda outcomes: send(("results", outcomes)),
        on_reconnected=lambda channel: send(("reconnected", channel.id)),
    )
    freeze_heap()
    try:
        while True:
            try:
                frame = read_frame(source)
            except EOFError:
                break
            _, items = frame.load()
            for number, channel, envelope in items:
                writer.submit(channel, envelope, tag=number)
    finally:
        writer.close()
        database.dispose()
