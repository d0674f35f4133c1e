"""The composition root: settings in, ready-to-use services out. The only module that picks
adapters (which bulk path, which engine)."""

from __future__ import annotations

from dataclasses import dataclass

from chatport.settings import Settings
from chatport.store.bulk import BulkOps
from chatport.store.database import Database
from chatport.store.engine import backend_of, create_store_engine
from chatport.store.migrate import ensure_schema


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
    backend = backend_of(settings.database_url)
    engine = create_store_engine(settings.database_url)
    ops: BulkOps
    if backend == "postgresql":
        from chatport.store.postgres import PostgresBulk

        ops = PostgresBulk()
    else:
        from chatport.store.sqlite import SqliteBulk

        ops = SqliteBulk()
    if check_schema:
        ensure_schema(engine, auto_upgrade=backend == "sqlite" and settings.auto_migrate_sqlite)
    return Database(engine=engine, ops=ops, default_timeout=settings.session_timeout)


def build(settings: Settings | None = None) -> Services:
    """Build the services of one process."""
    settings = settings or Settings()
    return Services(settings=settings, database=build_database(settings))
