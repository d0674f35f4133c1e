"""Apply and inspect the packaged Alembic migrations (`chatport db upgrade|current`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from chatport.errors import SchemaError

SCRIPT_LOCATION = "chatport.store:migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of chatport ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest), in one transaction."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Check the database is at head; migrate it first when `auto_upgrade` is set.

    Raises SchemaError with the command to run when it is behind and may not be migrated here.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if auto_upgrade:
        upgrade(engine)
        return
    state = "not initialised" if current is None else f"at revision {current}"
    raise SchemaError(
        f"the database is {state}, this chatport needs {head}: run `chatport db upgrade`"
    )
