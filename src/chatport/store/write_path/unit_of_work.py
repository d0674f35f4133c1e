"""Transactions the caller drives: `with database.unit_of_work() as uow: ...; uow.commit()`.

For a transaction that must survive deadlocks, serialisation failures and the fast
duplicate check's misses, take its attempts from `Database.transactions()`:

    for uow in database.transactions():
        with uow:
            result = uow.write_batch(channel, batch, origin=Origin.IMPORT)
            jobs.checkpoint(uow.connection, ...)
            uow.commit()

Each attempt is a new transaction; the body runs again after a failure it may retry, so
it must only read and write through `uow`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Unpack

from sqlalchemy import Connection, Engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from chatport.domain.batch import PreparedBatch, prepare_batch
from chatport.domain.model import BatchResult, Channel, IncomingMessage
from chatport.store import channels
from chatport.store.backends.bulk import BulkOps
from chatport.store.write_path.batch import DuplicateElsewhere, WriteOptions, write_batch


class UnitOfWork:
    """One transaction on one connection. Rolls back on exit unless `commit()` was called.

    On SQLite the transaction takes the write lock when it begins (BEGIN IMMEDIATE).
    """

    def __init__(
        self,
        engine: Engine,
        ops: BulkOps,
        default_timeout: timedelta,
        *,
        exact_duplicates: bool = False,
        attempt: bool = False,
    ) -> None:
        self._engine = engine
        self.ops = ops
        self._default_timeout = default_timeout
        self._connection: Connection | None = None
        self.exact_duplicates = exact_duplicates
        """Check every id for duplicates (see DuplicateElsewhere), not only the batch's span."""
        self._attempt = attempt
        self.failure: Exception | None = None
        """What ended an attempt of `Database.transactions()`, kept for it to judge."""
        self.committed = False
        self._created = 0

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for queries the write path does not cover."""
        if self._connection is None:
            raise RuntimeError("use the unit of work in a `with` block")
        return self._connection

    def __enter__(self) -> UnitOfWork:
        self._connection = self._engine.connect().execution_options(sqlite_write=True)
        self._connection.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        connection, self._connection = self._connection, None
        if connection is not None:
            if connection.in_transaction():
                connection.rollback()
            connection.close()
        if self._attempt and isinstance(exc, Exception):
            self.failure = exc
            return True  # Database.transactions() decides: retry, or raise it
        return False

    def commit(self) -> None:
        """Make everything written in this unit of work durable."""
        self.connection.commit()
        self.committed = True
        if self._created:
            self.ops.after_commit(self._engine, self._created)

    def channel(self, name: str = "default", tenant: str = "default") -> Channel:
        """A channel by tenant and name, with its resolved session timeout."""
        return channels.get_channel(self.connection, name, tenant, self._default_timeout)

    def create_channel(
        self,
        name: str,
        *,
        tenant: str = "default",
        waha_session: str | None = None,
        session_timeout: timedelta | None = None,
    ) -> Channel:
        """Create a channel (commit to keep it)."""
        return channels.create_channel(
            self.connection,
            name,
            tenant=tenant,
            waha_session=waha_session,
            session_timeout=session_timeout,
            default_timeout=self._default_timeout,
        )

    def write_batch(
        self,
        channel: Channel,
        incoming: Iterable[IncomingMessage] | PreparedBatch,
        **options: Unpack[WriteOptions],
    ) -> BatchResult:
        """Validate and write a batch in this transaction (see store.write_path.batch)."""
        batch = incoming if isinstance(incoming, PreparedBatch) else prepare_batch(incoming)
        result = write_batch(
            self.connection,
            self.ops,
            channel,
            batch,
            exact_duplicates=self.exact_duplicates,
            **options,
        )
        self._created += result.created
        return result


def _is_transient(error: BaseException) -> bool:
    """Serialisation failures and deadlocks, raised by SQLAlchemy or by the driver (COPY)."""
    code = getattr(error, "sqlstate", None) or getattr(
        getattr(error, "orig", None), "sqlstate", None
    )
    return code in ("40001", "40P01")


def attempts(engine: Engine, ops: BulkOps, default_timeout: timedelta) -> Iterator[UnitOfWork]:
    """The attempts of one transaction, until one ends without a failure (see the module).

    A deadlock or serialisation failure is retried (five attempts in all, with a random
    exponential wait); DuplicateElsewhere once, with the exact duplicate check; any other
    failure is raised at once from the `for` statement.
    """
    exact = False
    for retrying in Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(multiplier=0.05, max=2),
        reraise=True,
    ):
        with retrying:
            while True:
                uow = UnitOfWork(engine, ops, default_timeout, exact_duplicates=exact, attempt=True)
                yield uow
                if isinstance(uow.failure, DuplicateElsewhere) and not exact:
                    exact = True
                    continue
                if uow.failure is not None:
                    raise uow.failure
                return
