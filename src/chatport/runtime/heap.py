"""The garbage collector's and the allocator's settings for chatport's processes (no
imports at module level: fetch processes use it before anything else is loaded)."""

from __future__ import annotations

import gc

WRITER_YOUNG_THRESHOLD = 100_000
"""Allocations between young collections in a process that writes an import (Python's
default: 700). A chunk allocates hundreds of thousands of objects, almost all freed by
reference counting; at the default, collections would walk the chunk in flight again and
again."""

FETCHER_YOUNG_THRESHOLD = 10_000
"""The same for a fetch process, lower: its HTTP client leaves cyclic garbage behind every
page, which a higher threshold would keep longer."""


def freeze_heap() -> None:
    """Keep what a long-running process built at start-up out of the garbage collector's
    way: a full collection walks every tracked object (the modules, classes and functions of
    the server among them) while holding the interpreter lock; frozen, it walks only what
    was made since."""
    gc.collect()
    gc.freeze()


MMAP_THRESHOLD = 256 * 1024
"""Blocks of this many bytes and more get mappings of their own from glibc's allocator, given
back to the system as soon as they are freed. By default glibc raises this threshold (to as
much as 32 MiB) each time such a block is freed, so an import's megabyte buffers (a chunk's
MessagePack) soon come from the heap, which keeps their pages once they are freed
and fragments around them."""

MALLOC_ARENAS = 2
"""At most this many glibc allocator arenas (its default: eight a core). Each thread that
allocates under contention gets an arena of its own, and each arena keeps its freed pages;
the import's writer runs seven threads."""


def for_bulk_work(young_threshold: int = WRITER_YOUNG_THRESHOLD) -> None:
    """`freeze_heap`, young collections every `young_threshold` allocations and the
    allocator's settings (`MMAP_THRESHOLD`, `MALLOC_ARENAS`): for a process that imports
    history (the import command, a worker, a fetch process): they keep its peak memory
    bounded by the chunks in flight (see docs/benchmarks.md)."""
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
