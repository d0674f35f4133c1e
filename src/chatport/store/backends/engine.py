"""Create SQLAlchemy engines for the two back ends, tuned for bulk writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from chatport.errors import ConfigurationError, DatabaseUnavailable, MissingExtra
from chatport.store.jsoncodec import dumps

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-16384",
    "PRAGMA temp_store=MEMORY",
)


CONNECT_TIMEOUT_SECONDS = 10
"""How long a connection to PostgreSQL may take, unless the URL sets `connect_timeout`."""


def normalise_database_url(url: str) -> str:
    """Map user-facing URLs to driver URLs: `postgresql://` and `postgres://` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def backend_of(url: str) -> str:
    """`sqlite` or `postgresql`, or raise ConfigurationError for anything else."""
    try:
        name = make_url(normalise_database_url(url)).get_backend_name()
    except ArgumentError:
        name = None
    if name not in ("sqlite", "postgresql"):
        shown = make_url(url).render_as_string() if name else repr(url)  # no password shown
        raise ConfigurationError(
            f"unsupported database URL {shown} (--db or CHATPORT_DATABASE_URL): use "
            "sqlite:///FILE or postgresql://USER@HOST/DB"
        )
    return name


def create_store_engine(url: str, *, sqlite_checkpoint_pages: int = 1000, **kwargs: Any) -> Engine:
    """An engine for `url`. SQLite gets WAL and a real BEGIN; PostgreSQL gets psycopg 3.
    JSON documents are serialised by `jsoncodec`. A SQLite commit that leaves the WAL
    longer than `sqlite_checkpoint_pages` copies it into the database file (a checkpoint)."""
    url = normalise_database_url(url)
    backend = backend_of(url)
    kwargs.setdefault("json_serializer", _json_text)
    if backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtra("PostgreSQL support", "postgres") from None
        kwargs.setdefault("pool_pre_ping", True)
        if "connect_timeout" not in make_url(url).query:  # an unreachable host: not minutes
            kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
        return create_engine(url, **kwargs)
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror or error
            raise DatabaseUnavailable(f"cannot create the folder of {database}: {reason}") from None
    engine = create_engine(url, **kwargs)
    _configure_sqlite(
        engine, (*SQLITE_PRAGMAS, f"PRAGMA wal_autocheckpoint={sqlite_checkpoint_pages:d}")
    )
    return engine


def _json_text(document: Any) -> str:
    return dumps(document).decode()


def _configure_sqlite(engine: Engine, pragmas: tuple[str, ...]) -> None:
    """Let SQLAlchemy own transactions (pysqlite's implicit BEGIN is off) and set pragmas.

    A connection with the execution option `sqlite_write=True` begins with BEGIN IMMEDIATE,
    so writers queue on the database lock up front instead of failing mid-transaction.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
