"""The garbage collector's settings for chatport's processes (no imports: fetch processes
use it before anything else is loaded)."""

from __future__ import annotations

import gc

BULK_YOUNG_THRESHOLD = 10_000
"""Allocations between young collections in an import's processes (Python's default: 700).
A chunk allocates hundreds of thousands of objects, almost all freed by reference counting;
at 700 the writer ran some 1,250 young collections per 300,000 messages, each walking the
chunk in flight (about 5 % of its time)."""


def freeze_heap() -> None:
    """Keep what a long-running process built at start-up out of the garbage collector's
    way: a full collection walks every tracked object (some 120,000 modules, classes and
    functions in the server), about 60 ms of held interpreter lock on this 2-core machine,
    several times a minute under load; frozen, it walks only what was made since."""
    gc.collect()
    gc.freeze()


def for_bulk_work() -> None:
    """`freeze_heap`, and young collections every BULK_YOUNG_THRESHOLD allocations: for a
    process that imports history (the import command, its fetch processes, a worker)."""
    freeze_heap()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(BULK_YOUNG_THRESHOLD, middle, old)
