"""The database a process works with: an engine, its bulk path, the default timeout and the
box that seals the channel secrets stored."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Unpack

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from chatport.domain.batch import PreparedBatch, prepare_batch
from chatport.domain.model import DEFAULT_SESSION_TIMEOUT, BatchResult, Channel, IncomingMessage
from chatport.errors import DatabaseUnavailable
from chatport.store.backends.bulk import BulkOps
from chatport.store.backends.engine import backend_of, create_store_engine
from chatport.store.secret_box import SecretBox
from chatport.store.write_path.batch import WriteOptions
from chatport.store.write_path.unit_of_work import UnitOfWork, attempts


@dataclass(frozen=True)
class Database:
    """Built once per process by `bootstrap.build`; cheap to pass around."""

    engine: Engine
    ops: BulkOps
    default_timeout: timedelta
    secrets: SecretBox = field(default_factory=SecretBox)
    """Seals and opens the channel secrets stored (`store/secret_box.py`); without a key
    (a process that reads no settings, or no `CHATPORT_SECRET_KEY`) they are written in clear
    and a sealed one cannot be read."""

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.ops.name

    def unit_of_work(self) -> UnitOfWork:
        """A new transaction, tried once; see UnitOfWork."""
        return UnitOfWork(self.engine, self.ops, self.default_timeout)

    def transactions(self) -> Iterator[UnitOfWork]:
        """The attempts of one transaction, retried after deadlocks, serialisation failures
        and the fast duplicate check's misses:

            for uow in database.transactions():
                with uow:
                    ...
                    uow.commit()
        """
        return attempts(self.engine, self.ops, self.default_timeout)

    @contextmanager
    def bulk_writes(self) -> Iterator[Database]:
        """This database tuned for one writer of many large batches (an import), in a `with`
        block: on SQLite, connections that checkpoint the WAL every 64 MiB instead of every
        4 MiB (`store/backends/sqlite.py`, BULK_CHECKPOINT_PAGES)."""
        with self.ops.bulk_engine(self.engine) as engine:
            if engine is self.engine:
                yield self
            else:
                yield replace(self, engine=engine, ops=type(self.ops)())

    def channel(self, name: str = "default", tenant: str = "default") -> Channel:
        """Look up a channel (read-only transaction)."""
        with self.unit_of_work() as uow:
            return uow.channel(name, tenant)

    def write_batch(
        self,
        channel: Channel,
        incoming: Iterable[IncomingMessage] | PreparedBatch,
        **options: Unpack[WriteOptions],
    ) -> BatchResult:
        """Write one batch in a transaction of its own (see `transactions`)."""
        batch = incoming if isinstance(incoming, PreparedBatch) else prepare_batch(incoming)
        for uow in self.transactions():
            with uow:
                result = uow.write_batch(channel, batch, **options)
                uow.commit()
        return result

    def reach(self) -> None:
        """Open one connection, so that a database that cannot be opened is named in one line
        (DatabaseUnavailable) before any work: a PostgreSQL server that does not answer or
        refuses (host, port, password, database name), a SQLite file that is not a database."""
        try:
            with self.engine.connect():
                pass
        except DBAPIError as error:
            url = self.engine.url
            where = url.set(drivername=url.get_backend_name()).render_as_string()  # no password
            reason = " ".join(str(error.orig).split()) or type(error.orig).__name__
            raise DatabaseUnavailable(f"cannot open the database {where}: {reason}") from None

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def open_database(
    url: str,
    default_timeout: timedelta = DEFAULT_SESSION_TIMEOUT,
    secrets: SecretBox | None = None,
) -> Database:
    """The database at `url` as it is (no schema check, no settings read): for the
    composition root, and for a process that reads no settings (an import's fetch process,
    which reads no channel secret: its WAHA key comes from the parent). `secrets`: the box of
    the channel secrets (default: none, clear values only)."""
    engine = create_store_engine(url)
    ops: BulkOps
    if backend_of(url) == "postgresql":
        from chatport.store.backends.postgres import PostgresBulk

        ops = PostgresBulk()
    else:
        from chatport.store.backends.sqlite import SqliteBulk

        ops = SqliteBulk()
    secrets = SecretBox() if secrets is None else secrets
    return Database(engine=engine, ops=ops, default_timeout=default_timeout, secrets=secrets)
