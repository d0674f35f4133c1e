"""The garbage collector's and the allocator's settings for chatport's processes (no
imports at module level: fetch processes use it before anything else is loaded)."""

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


MMAP_THRESHOLD = 256 * 1024
"""Blocks of this many bytes and more get mappings of their own from glibc's allocator, given
back to the system as soon as they are freed. By default glibc raises this threshold (to as
much as 32 MiB) each time such a block is freed, so an import's megabyte buffers (a chunk's
MessagePack, 3.5-7 MB) soon come from the heap, which keeps their pages once they are freed
and fragments around them."""

MALLOC_ARENAS = 2
"""At most this many glibc allocator arenas (its default: eight a core). Each thread that
allocates under contention gets an arena of its own, and each arena keeps its freed pages;
the import's writer runs seven threads."""


def for_bulk_work(young_threshold: int = WRITER_YOUNG_THRESHOLD) -> None:
    """`freeze_heap`, young collections every `young_threshold` allocations and the
    allocator's settings (`MMAP_THRESHOLD`, `MALLOC_ARENAS`): for a process that imports
    history (the import command, a worker, a fetch process). A 1,000,000-message import
    with chunks of 10,000 peaked at 321-342 MB (its processes together) without these
    allocator settings, 281 MB with them."""
    freeze_heap()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
    _tune_allocator()


def _tune_allocator() -> None:
    """glibc only: elsewhere (no `mallopt`) the allocator keeps its defaults."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold, m_arena_max = -3, -8  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, MMAP_THRESHOLD)
    mallopt(m_arena_max, MALLOC_ARENAS)
