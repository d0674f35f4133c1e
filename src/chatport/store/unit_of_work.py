"""Transactions: `with store.unit_of_work() as uow: ...; uow.commit()`; no commit, no write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import Connection, Engine
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from chatport.domain.batch import PreparedBatch, prepare_batch
from chatport.domain.model import BatchResult, Channel, IncomingMessage, Origin
from chatport.store import queries
from chatport.store.batch_writer import write_batch
from chatport.store.bulk import BulkOps


class UnitOfWork:
    """One transaction on one connection. Rolls back on exit unless `commit()` was called.

    On SQLite the transaction takes the write lock when it begins (BEGIN IMMEDIATE).
    """

    def __init__(self, engine: Engine, ops: BulkOps, default_timeout: timedelta) -> None:
        self._engine = engine
        self.ops = ops
        self._default_timeout = default_timeout
        self._connection: Connection | None = None

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
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if connection.in_transaction():
                connection.rollback()
            connection.close()

    def commit(self) -> None:
        """Make everything written in this unit of work durable."""
        self.connection.commit()

    def channel(self, name: str = "default", tenant: str = "default") -> Channel:
        """A channel by tenant and name, with its resolved session timeout."""
        return queries.get_channel(self.connection, name, tenant, self._default_timeout)

    def create_channel(
        self,
        name: str,
        *,
        tenant: str = "default",
        waha_session: str | None = None,
        session_timeout: timedelta | None = None,
    ) -> Channel:
        """Create a channel (commit to keep it)."""
        return queries.create_channel(
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
        *,
        origin: Origin,
        timeout: timedelta | None = None,
        now: datetime | None = None,
        exact_duplicates: bool = False,
        new_chats: bool = False,
        known_lids: Mapping[str, str] | None = None,
    ) -> BatchResult:
        """Validate and write a batch in this transaction (see store.batch_writer.write_batch,
        and its DuplicateElsewhere for `exact_duplicates`)."""
        batch = incoming if isinstance(incoming, PreparedBatch) else prepare_batch(incoming)
        return write_batch(
            self.connection,
            self.ops,
            channel,
            batch,
            origin=origin,
            timeout=timeout,
            now=now,
            exact_duplicates=exact_duplicates,
            new_chats=new_chats,
            known_lids=known_lids,
        )


def _is_transient(error: BaseException) -> bool:
    """Serialisation failures and deadlocks, raised by SQLAlchemy or by the driver (COPY)."""
    code = getattr(error, "sqlstate", None) or getattr(
        getattr(error, "orig", None), "sqlstate", None
    )
    return code in ("40001", "40P01")


transient_retry = retry(
    retry=retry_if_exception(_is_transient),
    stop=stop_after_attempt(5),
    wait=wait_random_exponential(multiplier=0.05, max=2),
    reraise=True,
)
"""Retry a whole transaction after a deadlock or a serialisation failure."""
