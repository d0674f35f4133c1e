"""One import chunk through the write path, with its job's checkpoint, in one transaction.

Taken by the import's writer thread (SQLite, one writer) and by the fetch processes that
write their own chunks (PostgreSQL, which takes concurrent writers: no chunk then crosses a
pipe to be encoded, copied and decoded again). A chat is recorded done in the transaction
that writes its last part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chatport.domain.model import BatchResult, Channel, Origin
from chatport.ingest.waha.chunks import Chunk
from chatport.store.jobs import import_jobs as jobs

if TYPE_CHECKING:
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

    messages: int
    """Messages the fetcher read for the chunk (valid, invalid, repeated)."""
    created: int
    chats_done: int
    chats_failed: int
    checkpoint: jobs.Checkpoint
    seconds: float = 0.0
    """How long the chunk's transaction took (its last attempt)."""


def write_chunk(
    database: Database,
    target: ChunkTarget,
    chunk: Chunk,
    quiet: Callable[[], None] = lambda: None,
) -> Written:
    """Write `chunk` and its checkpoint in one transaction (see `Database.transactions`);
    `quiet()` is called just before the commit."""
    batch = chunk.batch
    stored_already = target.job.kind == jobs.CATCH_UP and not (batch.messages or batch.invalid)
    for uow in database.transactions():
        started = time.perf_counter()
        with uow:
            if stored_already:  # a catch-up that found nothing new writes only its job's row
                result = BatchResult(duplicates=batch.duplicates)
            else:
                result = uow.write_batch(
                    target.channel,
                    batch,
                    origin=Origin.IMPORT,
                    new_chats=target.stored_chats.isdisjoint(batch.chats),
                    known_lids=target.lids,
                )
            checkpoint = jobs.checkpoint(
                uow.connection, database.ops, target.job, result, chunk.done, chunk.failed
            )
            quiet()
            uow.commit()
    seconds = time.perf_counter() - started
    done, failed = len(chunk.done), len(chunk.failed)
    return Written(chunk.messages, result.created, done, failed, checkpoint, seconds)
