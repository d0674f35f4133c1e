"""The writes of a deliverer to SQLite: one at a time, claims first.

SQLite has one write lock, and its waiters poll it with sleeps of up to 100 ms, in no order:
a deliverer's threads competing for it among themselves would keep a claim of new jobs
waiting behind the replies being stored. Through the gate they queue in the process instead,
and a claim goes before the stores waiting (only one of the deliverer's threads at a time
meets the other writers, the webhooks' and the debouncer's, on the database's lock). On
PostgreSQL (row locks) the gate lets everything through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteGate:
    """`with gate.write():` around a write transaction; `write(first=True)` for a claim."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._condition = threading.Condition()
        self._busy = False
        self._firsts = 0  # claims waiting
        self.waiting = 0
        """Writes waiting for the gate now."""

    @contextmanager
    def write(self, first: bool = False) -> Iterator[None]:
        """Hold the gate for one write transaction (a claim: `first`, ahead of the others)."""
        if not self.enabled:
            yield
            return
        with self._condition:
            self._firsts += first
            self.waiting += 1
            try:
                while self._busy or (not first and self._firsts):
                    self._condition.wait()
            finally:
                self._firsts -= first
                self.waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._condition:
                self._busy = False
                self._condition.notify_all()
