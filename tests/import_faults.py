"""Faults planted in an import's writes, wherever they run: in the test's process (SQLite: the
writer thread) and in the fetch processes, which write their own chunks on PostgreSQL.

`plant(monkeypatch, "fault", *args)` applies `fault(setattr, *args)` here (undone after the
test) and swaps the command that starts fetch processes for one that applies it first.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatport.store.jobs import import_jobs as jobs
from chatport.store.write_path.unit_of_work import UnitOfWork

SetAttr = Callable[[Any, str, Any], None]

released = threading.Event()
"""Set by the test to end the waits of `slow_checkpoints_after_first` in its process."""


def plant(monkeypatch: pytest.MonkeyPatch, fault: str, *args: Any) -> None:
    globals()[fault](monkeypatch.setattr, *args)
    command = (
        f"import tests.import_faults as faults; faults.{fault}(setattr, *{args!r}); "
        "from chatport.ingest.waha.fetch_process import main; main()"
    )
    monkeypatch.setattr("chatport.ingest.waha.fetch_pool.FETCH_COMMAND", ["-c", command])


def failing_writes(set_attr: SetAttr) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full (simulated)")

    set_attr(UnitOfWork, "write_batch", broken)


def deadlock_after_second_checkpoint(set_attr: SetAttr, marker: str) -> None:
    """The second checkpoint (of each process) is written, then its transaction deadlocks
    (and the file `marker` is created, to show it did)."""

    class Deadlock(Exception):
        sqlstate = "40P01"

    real_checkpoint, calls = jobs.checkpoint, []

    def deadlocked_once(*args: Any) -> jobs.Checkpoint:
        state = real_checkpoint(*args)
        calls.append(state)
        if len(calls) == 2:
            Path(marker).touch()
            raise Deadlock("deadlock detected (simulated, after the checkpoint was written)")
        return state

    set_attr(jobs, "checkpoint", deadlocked_once)


def slow_checkpoints_after_first(set_attr: SetAttr, begun: str, seconds: float = 120) -> None:
    """Every checkpoint but the first (of each process) creates the file `begun`, then holds
    its chunk's transaction open until `released` (of the process) is set, `seconds` at most.
    A checkpoint is the last step of its chunk's transaction, and a process writes its chunks
    one after another: once `begun` exists, a chunk has committed and another is under way.
    In the test's process (SQLite's writer thread) the test sets `released`; a fetch process
    (PostgreSQL) is killed before its wait ends."""
    real_checkpoint, calls = jobs.checkpoint, []
    released = threading.Event()
    set_attr(sys.modules[__name__], "released", released)

    def slow_checkpoint(*args: Any) -> jobs.Checkpoint:
        state = real_checkpoint(*args)
        calls.append(state)
        if len(calls) > 1:
            Path(begun).touch()
            released.wait(seconds)
        return state

    set_attr(jobs, "checkpoint", slow_checkpoint)
