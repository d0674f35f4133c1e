"""What differs between the back ends, behind one small interface used by the write path.

Everything else the write path does is plain SQLAlchemy Core, shared by both back ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table
from sqlalchemy.engine import CursorResult

MESSAGE_COLUMNS = (
    "tenant_id",
    "channel_id",
    "external_id",
    "message_key",
    "chat_id",
    "contact_id",
    "session_id",
    "sent_at",
    "from_me",
    "content_type",
    "text",
    "media_url",
    "media_mime",
    "media_filename",
    "media_size",
    "origin",
    "created_at",
    "raw_block",
    "raw_line",
)
"""The order of the values in a message row handed to `BulkOps.insert_messages`."""
MESSAGE_KEY = ("channel_id", "message_key")


Match = Callable[[Any], ColumnElement[bool]]
"""`match(column)`: the condition "column equals one of the keys" of a lookup."""
QueryBuilder = Callable[[Match], Select]


class BulkOps(Protocol):
    """The back-end specific half of the write path."""

    name: str
    placeholder: str
    """The driver's parameter marker: `?` (sqlite3) or `%s` (psycopg)."""
    concurrent_writers: bool
    """Whether transactions of different chats commit in parallel (not SQLite's one lock)."""
    import_chunk_size: int
    """Messages per import transaction unless the import says otherwise."""

    def lookup(
        self, connection: Connection, build: QueryBuilder, keys: Sequence[str], **params: Any
    ) -> CursorResult:
        """Run a query that looks rows up by a list of keys, bound as ONE parameter whatever
        their number, with one index lookup per key as the only sensible plan (also on a
        table whose statistics are stale, as during a first bulk load).

        `build(match)` returns the lookup, where `match(column)` is the condition "column
        equals one of the keys"; its other values are `bindparam`s named as in `params`.
        `build` must be a module-level function: its statement is built once and kept (add
        `.with_for_update()` in it to lock the rows).
        """

    def encode_time(self, value: datetime) -> Any:
        """A datetime as the message row wants it."""

    def encode_uuid(self, value: UUID) -> Any:
        """A UUID as the message row wants it."""

    def encode_json(self, data: bytes) -> Any:
        """Serialised JSON bytes as the message row wants them."""

    def insert_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        unique: Sequence[str] = (),
    ) -> None:
        """Bulk insert new rows (values encoded with the encode_* methods) into `table`,
        skipping those whose `unique` key is taken when given. Nothing is returned, so the
        back end may send the statement later in the transaction (PostgreSQL: pg_pipeline)."""

    def lock_names(self, connection: Connection, names: Sequence[str]) -> None:
        """Hold a lock on each of `names` until the transaction ends, taken in one order so
        that two writers of the same names queue instead of deadlocking (PostgreSQL: advisory
        locks; SQLite: nothing, its one writer holds the database)."""

    def is_unique_violation(self, error: BaseException) -> bool:
        """True when `error` is a unique-key violation (from the driver or SQLAlchemy)."""

    def after_commit(self, engine: Engine, written: int) -> None:
        """Housekeeping after a committed batch that wrote `written` messages."""

    def bulk_engine(self, engine: Engine) -> AbstractContextManager[Engine]:
        """`engine`, or an engine on the same database tuned for one writer of many large
        batches (an import), for the duration of a `with` block."""

    def update_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        key: str,
        rows: list[tuple],
    ) -> None:
        """Update many rows in one statement; each row holds the `columns` values, then the
        value of `key` that selects the rows to update."""

    def allocate_raw_blocks(self, connection: Connection, count: int) -> list[int]:
        """`count` new ids of `message_raws` rows (store.raw_archive), unused by any other
        writer; inserting them is up to the caller, in the same transaction."""

    def insert_messages(self, connection: Connection, rows: Iterator[tuple]) -> int:
        """Bulk insert message rows (MESSAGE_COLUMNS order) as they are generated, skipping
        existing (channel_id, message_key); return how many were inserted."""

    def insert_skipping_taken(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        unique: Sequence[str],
    ) -> int:
        """Insert the rows whose `unique` key is not taken yet; return how many were inserted,
        exactly, also with concurrent writers. `rows` is not empty."""


def insert_sql(
    table: str, columns: Sequence[str], placeholder: str, unique: Sequence[str] = ()
) -> str:
    """`INSERT INTO table (columns) VALUES (…)`, with `ON CONFLICT (unique) DO NOTHING` when
    `unique` is given; the same text for every batch, so drivers cache its preparation."""
    values = ", ".join(placeholder for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    return f"{sql} ON CONFLICT ({', '.join(unique)}) DO NOTHING" if unique else sql


def update_sql(table: str, columns: Sequence[str], key: str, placeholder: str) -> str:
    """`UPDATE table SET column = …, … WHERE key = …` for executemany (values, then key)."""
    assignments = ", ".join(f"{column} = {placeholder}" for column in columns)
    return f"UPDATE {table} SET {assignments} WHERE {key} = {placeholder}"


def insert_new(
    connection: Connection,
    ops: BulkOps,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple],
    unique: Sequence[str],
) -> int:
    """Insert the rows whose `unique` key is not taken yet (one statement on PostgreSQL, one
    executemany on SQLite); return how many were inserted, exactly."""
    if not rows:
        return 0
    return ops.insert_skipping_taken(connection, table, columns, rows, unique)


def executemany_insert_new(
    connection: Connection,
    placeholder: str,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple],
    unique: Sequence[str],
) -> int:
    """`INSERT … ON CONFLICT DO NOTHING` as one executemany (the driver sums the row
    counts, so the total is exact also with concurrent writers)."""
    sql = insert_sql(table.name, columns, placeholder, unique)
    return connection.exec_driver_sql(sql, rows).rowcount
