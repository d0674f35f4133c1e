"""A background thread that works in rounds and sleeps between them until its next round is
due, or until its topic is notified (PostgreSQL LISTEN/NOTIFY; polling on SQLite)."""

from __future__ import annotations

import logging
import threading
from typing import Self

from chatport.store.database import Database
from chatport.store.jobs.wakeups import Listener

logger = logging.getLogger(__name__)


class WakingLoop:
    """Subclasses implement `_round()`: do what is due, return the seconds until the next
    round (capped at `idle_seconds`). `start()`, then `close()`."""

    def __init__(
        self,
        database: Database,
        topic: str,
        name: str,
        *,
        poll_seconds: float = 0.2,
        idle_seconds: float = 5.0,
    ) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self._listener = Listener(database.engine, topic, poll_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        """Start the rounds, listening already; returns itself."""
        self._listener.listen()  # a notify during the first round wakes the sleep after it
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop (a round under way finishes); wakes a sleeping loop at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._listener.interrupt()
            self._thread.join()

    def _round(self) -> float:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    wait = min(self.idle_seconds, self._round())
                except Exception:  # noqa: BLE001 - the next round tries again; nothing lost
                    logger.exception("%s: a round failed", self._thread.name)
                    wait = self.poll_seconds
                if not self._stop.is_set():
                    self._listener.wait(wait)
        finally:
            self._listener.close()
