"""The garbage collector's settings for chatport's processes (no imports: fetch processes
use it before anything else is loaded)."""

from __future__ import annotations

import gc

BULK_YOUNG_THRESHOLD = 100_000
"""Allocations between young collections in an import's processes (Python's default: 700).
A chunk allocates hundreds of thousands of objects, almost all freed by reference counting
(the writer's collections found some 3,600 objects of garbage in a 300,000-message import);
at 700 the writer ran some 1,250 collections, each walking the chunk in flight: 0.4 s of
its 8, against 0.02 s at this threshold (and 0.25 -> 0.15 s in each fetch process)."""


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
