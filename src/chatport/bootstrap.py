"""The composition root: settings in, ready-to-use services out. The only module that picks
adapters (which bulk path, which engine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from chatport.domain.model import DEFAULT_SESSION_TIMEOUT
from chatport.store.bulk import BulkOps
from chatport.store.database import Database
from chatport.store.engine import backend_of, create_store_engine
from chatport.store.migrate import ensure_schema

if TYPE_CHECKING:  # at run time only where settings are read: a fetch process has none
    from chatport.settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything a command, the API or a worker needs, built once per process."""

    settings: Settings
    database: Database

    def close(self) -> None:
        """Release connections."""
        self.database.dispose()


def build_database(settings: Settings, *, check_schema: bool = True) -> Database:
    """The database of `settings`, migrated (SQLite) or checked (PostgreSQL) unless told not."""
    database = open_database(settings.database_url, settings.session_timeout)
    if check_schema:
        backend = database.ops.name
        auto_upgrade = backend == "sqlite" and settings.auto_migrate_sqlite
        ensure_schema(database.engine, auto_upgrade=auto_upgrade)
    return database


def open_database(url: str, default_timeout: timedelta = DEFAULT_SESSION_TIMEOUT) -> Database:
    """The database at `url` as it is (no schema check), for a process that reads no
    settings (an import's fetch process)."""
    engine = create_store_engine(url)
    ops: BulkOps
    if backend_of(url) == "postgresql":
        from chatport.store.postgres import PostgresBulk

        ops = PostgresBulk()
    else:
        from chatport.store.sqlite import SqliteBulk

        ops = SqliteBulk()
    return Database(engine=engine, ops=ops, default_timeout=default_timeout)


def build(settings: Settings | None = None) -> Services:
    """Build the services of one process."""
    if settings is None:
        from chatport.settings import Settings

        settings = Settings()
    return Services(settings=settings, database=build_database(settings))
