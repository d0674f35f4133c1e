"""Wake-ups between processes: PostgreSQL's LISTEN/NOTIFY, polling on SQLite.

A writer calls `notify(connection, topic)` inside its transaction (PostgreSQL delivers it at
commit, not before: a woken listener sees the rows). A `Listener` waits until the next notify
of its topic or a timeout, whichever first; on SQLite (one process, no NOTIFY) it just sleeps
for the timeout, capped at `poll_seconds`, so waiters poll.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine

logger = logging.getLogger(__name__)

BURSTS = "chatport_bursts"
"""Bursts opened, extended or taken over."""
AGENT_JOBS = "chatport_agent_jobs"
"""Agent jobs created or put back to pending."""


def notify(connection: Connection, topic: str) -> None:
    """Tell `topic`'s listeners, once the caller's transaction commits (PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_notify(%s, '')", (topic,))


class Listener:
    """`wait(timeout)` until `topic` is notified (PostgreSQL) or the timeout passes."""

    def __init__(self, engine: Engine, topic: str, poll_seconds: float = 0.2) -> None:
        self.engine = engine
        self.topic = topic
        self.poll_seconds = poll_seconds
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: Any = None
        self._closed = threading.Event()

    def listen(self) -> None:
        """Start listening now (PostgreSQL), before the first look at the work: a notify sent
        between that look and the first `wait` then wakes it (without this, the first `wait`
        would LISTEN only then, and sleep through it). A failure is `wait`'s to handle."""
        if self._postgres:
            try:
                self._listening()
            except Exception:  # noqa: BLE001 - wait() polls and reconnects
                logger.warning("LISTEN %s failed; polling until it works again", self.topic)
                self._drop()

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when woken by a notify."""
        timeout = max(0.0, timeout)
        if not self._postgres:
            return self._closed.wait(min(timeout, self.poll_seconds))
        try:
            connection = self._listening()
            woken = any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
            return woken
        except Exception:  # noqa: BLE001 - a lost connection: poll, reconnect next time
            logger.warning("LISTEN %s failed; polling until it works again", self.topic)
            self._drop()
            self._closed.wait(min(timeout, self.poll_seconds))
            return False

    def interrupt(self) -> None:
        """Wake a `wait` under way from another thread (then `close` from the waiting one)."""
        self._closed.set()
        if self._postgres:
            with self.engine.begin() as connection:
                notify(connection, self.topic)

    def close(self) -> None:
        """Stop listening (from the thread that waits)."""
        self._closed.set()
        self._drop()

    def _listening(self) -> Any:
        if self._connection is None:
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            dsn = url.render_as_string(hide_password=False)
            self._connection = psycopg.connect(dsn, autocommit=True)
            self._connection.execute(f"LISTEN {self.topic}")
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
