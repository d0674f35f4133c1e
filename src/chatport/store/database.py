"""The database a process works with: an engine, its bulk path and the default timeout."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from chatport.domain.batch import PreparedBatch, prepare_batch
from chatport.domain.model import BatchResult, Channel, IncomingMessage, Origin
from chatport.store.batch_writer import DuplicateElsewhere
from chatport.store.bulk import BulkOps
from chatport.store.unit_of_work import UnitOfWork, transient_retry

BatchSource = Callable[[Connection], PreparedBatch]
"""A batch made inside the transaction that writes it."""


@dataclass(frozen=True)
class Database:
    """Built once per process by `bootstrap.build`; cheap to pass around."""

    engine: Engine
    ops: BulkOps
    default_timeout: timedelta

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.ops.name

    def unit_of_work(self) -> UnitOfWork:
        """A new transaction; see UnitOfWork."""
        return UnitOfWork(self.engine, self.ops, self.default_timeout)

    def bulk_writes(self) -> AbstractContextManager[Database]:
        """This database tuned for one writer of many large batches (an import), in a `with`
        block: on SQLite, connections that checkpoint the WAL every 64 MiB instead of every
        4 MiB (`store/sqlite.py`, BULK_CHECKPOINT_PAGES)."""
        return self.ops.bulk_writes(self)

    def channel(self, name: str = "default", tenant: str = "default") -> Channel:
        """Look up a channel (read-only transaction)."""
        with self.unit_of_work() as uow:
            return uow.channel(name, tenant)

    @transient_retry
    def write_batch(
        self,
        channel: Channel,
        incoming: Iterable[IncomingMessage] | PreparedBatch | BatchSource,
        *,
        origin: Origin,
        timeout: timedelta | None = None,
        now: datetime | None = None,
        then: Callable[[Connection, BatchResult], None] | None = None,
        new_chats: bool = False,
        known_lids: Mapping[str, str] | None = None,
    ) -> BatchResult:
        """Write one batch in its own transaction, retried on deadlocks and, with the exact
        duplicate check, when some ids were stored elsewhere (see DuplicateElsewhere).

        `incoming` may be a function of the transaction's connection that returns the batch
        (called again on a retry); `then(connection, result)` runs in the same transaction
        after the batch (checkpoints). `new_chats`, `known_lids`: see
        store.batch_writer.write_batch.
        """
        batch = None
        if not callable(incoming):
            batch = incoming if isinstance(incoming, PreparedBatch) else prepare_batch(incoming)
        for exact in (False, True):
            with self.unit_of_work() as uow:
                if callable(incoming):
                    batch = incoming(uow.connection)
                try:
                    result = uow.write_batch(
                        channel,
                        batch,
                        origin=origin,
                        timeout=timeout,
                        now=now,
                        exact_duplicates=exact,
                        new_chats=new_chats,
                        known_lids=known_lids,
                    )
                except DuplicateElsewhere:
                    continue
                if then is not None:
                    then(uow.connection, result)
                uow.commit()
            self.ops.after_commit(self.engine, result.created)
            return result
        raise AssertionError("the exact duplicate check cannot raise DuplicateElsewhere")

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
