"""The database a process works with: an engine, its bulk path and the default timeout."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from chatport.domain.batch import PreparedBatch
from chatport.domain.model import BatchResult, Channel, IncomingMessage, Origin
from chatport.store.bulk import BulkOps
from chatport.store.unit_of_work import UnitOfWork, transient_retry


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

    def channel(self, name: str = "default", tenant: str = "default") -> Channel:
        """Look up a channel (read-only transaction)."""
        with self.unit_of_work() as uow:
            return uow.channel(name, tenant)

    @transient_retry
    def write_batch(
        self,
        channel: Channel,
        incoming: Iterable[IncomingMessage] | PreparedBatch,
        *,
        origin: Origin,
        timeout: timedelta | None = None,
        now: datetime | None = None,
    ) -> BatchResult:
        """Write one batch in its own transaction, retried on deadlocks and races.

        `incoming` must be re-iterable (a list or a PreparedBatch) for the retry to see it.
        """
        with self.unit_of_work() as uow:
            result = uow.write_batch(channel, incoming, origin=origin, timeout=timeout, now=now)
            uow.commit()
        return result

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
