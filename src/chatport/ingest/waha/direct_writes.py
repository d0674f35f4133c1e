"""A fetch process's writer of its own chunks, where the store takes concurrent writers
(PostgreSQL): no chunk then crosses a pipe to be encoded, copied and decoded again."""

from __future__ import annotations

import gc
from contextlib import ExitStack

from chatport.ingest.waha.chunk_step import ChunkTarget, Written, write_chunk
from chatport.ingest.waha.chunks import Chunk
from chatport.store.database import open_database


class DirectChunkWriter:
    """A fetch process's writer of its own chunks, for a store that takes concurrent writers
    (PostgreSQL): the target's database, opened for bulk writes until `close`."""

    def __init__(self, target: ChunkTarget) -> None:
        self.target = target
        self._opened = ExitStack()
        database = open_database(target.database_url, target.channel.session_timeout)
        self._opened.callback(database.dispose)
        self.database = self._opened.enter_context(database.bulk_writes())

    def write(self, chunk: Chunk) -> Written:
        """Write `chunk` with its checkpoint (call in the order the chunks were made)."""
        # The write allocates hundreds of thousands of objects that reference counting
        # frees; a fetch process's young collections (every FETCHER_YOUNG_THRESHOLD
        # allocations, for its HTTP client's cyclic garbage) would walk the chunk in flight
        # again and again. They resume once it is written.
        gc.disable()
        try:
            return write_chunk(self.database, self.target, chunk)
        finally:
            gc.enable()

    def close(self) -> None:
        """Release the database."""
        self._opened.close()
