"""The garbage collector's settings for chatport's processes (no imports: fetch processes
use it before anything else is loaded)."""

from __future__ import annotations

import gc

WRITER_YOUNG_THRESHOLD = 100_000
"""Allocations between young collections in a process that writes an import (Python's
default: 700). A chunk allocates hundreds of thousands of objects, almost all freed by
reference counting (some 3,600 objects of garbage in a 300,000-message import); at 700 the
writer ran some 1,250 collections, each walking the chunk in flight: 0.4 s of its 8 s (still
0.3-0.45 s at 10,000, on PostgreSQL), against 0.02 s at this threshold."""

FETCHER_YOUNG_THRESHOLD = 10_000
"""The same for a fetch process, whose HTTP client leaves cyclic garbage behind every page:
at 100,000 a fetch process held 10 MB more at its peak (1,000,000 messages)."""


def freeze_heap() -> None:
    """Keep what a long-running process built at start-up out of the garbage collector's
    way: a full collection walks every tracked object (some 120,000 modules, classes and
    functions in the server), about 60 ms of held interpreter lock on this 2-core machine,
    several times a minute under load; frozen, it walks only what was made since."""
    gc.collect()
    gc.freeze()


def for_bulk_work(young_threshold: int = WRITER_YOUNG_THRESHOLD) -> None:
    """`freeze_heap`, and young collections every `young_threshold` allocations: for a
    process that imports history (the import command, a worker, a fetch process)."""
    freeze_heap()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
