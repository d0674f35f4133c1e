"""Apply and inspect the packaged Alembic migrations (`chatport db upgrade|current`).

Alembic (with Mako and Pygments) is loaded only to migrate or to list
the migrations: every command's start-up check compares the database's revision with
`HEAD_REVISION` by one query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from chatport.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "chatport.store:migrations"
HEAD_REVISION = "0016"
"""The newest migration this chatport ships (a test holds it to the migrations' head)."""


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision among the packaged migrations (loads Alembic)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revisions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    if len(revisions) > 1:
        raise SchemaError(f"the database has {len(revisions)} revisions (branches): unexpected")
    return revisions[0][0] if revisions else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest), in one transaction."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Check the database is at head; migrate it first when `auto_upgrade` is set.

    Raises SchemaError with the command to run when it is behind and may not be migrated here.
    """
    current = current_revision(engine)
    head = HEAD_REVISION
    if current == head:
        return
    if auto_upgrade:
        upgrade(engine)
        return
    state = "not initialised" if current is None else f"at revision {current}"
    raise SchemaError(
        f"the database is {state}, this chatport needs {head}: run `chatport db upgrade`"
    )
