"""One import chunk through the write path, with its job's checkpoint, in one transaction.

Taken by the import's writer thread (SQLite, one writer) and by the fetch processes that
write their own chunks (PostgreSQL, which takes concurrent writers: no chunk then crosses a
pipe to be encoded, copied and decoded again). A chat is recorded done in the transaction
that writes its last part.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from chatport.domain.model import BatchResult, Channel, Origin
from chatport.store import jobs

if TYPE_CHECKING:
    from chatport.ingest.waha_fetch import Chunk
    from chatport.store.database import Database


@dataclass(frozen=True)
class ChunkTarget:
    """Where a job's chunks are written, picklable for a fetch process."""

    database_url: str
    channel: Channel
    job: jobs.ImportJob
    """The job whose checkpoints the chunks carry (its id and owner are what count)."""
    stored_chats: frozenset[str] = frozenset()
    """The chats the store held when the chunk step began: the others need no duplicate
    check."""
    lids: dict[str, str] = field(default_factory=dict)
    """The `@lid` -> phone pairs the job stored at its start (not stored again)."""

    def for_process(self) -> ChunkTarget:
        """This target for a fetch process: the job without its lists of chats, which
        checkpoints do not read."""
        return replace(self, job=replace(self.job, chats_done=set(), failed_chats={}))


@dataclass(frozen=True)
class Written:
    """A chunk committed with its checkpoint: what the job's progress gains."""

    fetcher: int
    messages: int
    """Messages the fetcher read for the chunk (valid, invalid, repeated)."""
    created: int
    chats_done: int
    chats_failed: int
    checkpoint: jobs.Checkpoint


def write_chunk(
    database: Database,
    target: ChunkTarget,
    chunk: Chunk,
    quiet: Callable[[], None] = lambda: None,
) -> Written:
    """Write `chunk` and its checkpoint in one transaction (retried as `write_batch` is);
    `quiet()` is called just before the commit."""
    committed: list[jobs.Checkpoint] = []

    def record(connection: Connection, result: BatchResult) -> None:
        committed[:] = [
            jobs.checkpoint(connection, database.ops, target.job, result, chunk.done, chunk.failed)
        ]
        quiet()

    result = database.write_batch(
        target.channel,
        chunk.batch,
        origin=Origin.IMPORT,
        then=record,
        new_chats=target.stored_chats.isdisjoint(chunk.batch.chats),
        known_lids=target.lids,
    )
    return Written(
        chunk.fetcher,
        chunk.messages,
        result.created,
        len(chunk.done),
        len(chunk.failed),
        committed[0],
    )


class OwnChunks:
    """A fetch process's writer of its own chunks, for a store that takes concurrent writers
    (PostgreSQL): the target's database, opened for bulk writes until `close`."""

    def __init__(self, target: ChunkTarget) -> None:
        from chatport.bootstrap import open_database

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
