"""The composition root: settings in, ready-to-use services out. The only module that picks
adapters (which bulk path, which engine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatport.services import Services
from chatport.store.database import Database, open_database
from chatport.store.migrate import ensure_schema

if TYPE_CHECKING:  # at run time only where settings are read: a fetch process has none
    from chatport.settings import Settings


def build_database(settings: Settings, *, check_schema: bool = True) -> Database:
    """The database of `settings`, migrated (SQLite) or checked (PostgreSQL) unless told not."""
    database = open_database(settings.database_url, settings.session_timeout)
    if check_schema:
        backend = database.ops.name
        auto_upgrade = backend == "sqlite" and settings.auto_migrate_sqlite
        ensure_schema(database.engine, auto_upgrade=auto_upgrade)
    return database


def build(settings: Settings | None = None) -> Services:
    """Build the services of one process."""
    if settings is None:
        from chatport.settings import Settings

        settings = Settings()
    return Services(settings=settings, database=build_database(settings))
