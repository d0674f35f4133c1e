"""SQLite bulk path: WAL, one `executemany` of `INSERT … ON CONFLICT DO NOTHING`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Connection, Engine, Select, String, Table, bindparam, func, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from chatport.store.backends.bulk import (
    MESSAGE_COLUMNS,
    MESSAGE_KEY,
    QueryBuilder,
    executemany_insert_new,
    insert_new,
    insert_sql,
    update_sql,
)
from chatport.store.backends.engine import create_store_engine
from chatport.store.column_types import sqlite_datetime
from chatport.store.tables import messages

BULK_CHECKPOINT_PAGES = 16_384
"""WAL pages (4 KiB each) a bulk writer's commit leaves before it checkpoints (SQLite's
default is 1,000). An import chunk writes more than 1,000 pages, so with the default every
commit copied the chunk's pages into the database file and waited for two fsyncs; the
random-order indexes (session ids, message ids) dirty pages all over their B-trees, which
each chunk wrote anew. Every 64 MiB, a page written by several chunks is copied once."""


class SqliteBulk:
    """BulkOps for SQLite; the single writer holds the database lock (BEGIN IMMEDIATE)."""

    name = "sqlite"
    placeholder = "?"
    concurrent_writers = False
    import_chunk_size = 5_000
    encode_time = staticmethod(sqlite_datetime)

    def __init__(self) -> None:
        self._lookups: dict[QueryBuilder, Select] = {}

    def lookup(
        self, connection: Connection, build: QueryBuilder, keys: Sequence[str], **params: Any
    ) -> CursorResult:
        query = self._lookups.get(build)
        if query is None:
            values = func.json_each(bindparam("keys", type_=String)).table_valued("value")
            query = self._lookups[build] = build(lambda column: column.in_(select(values.c.value)))
        return connection.execute(query, {"keys": orjson.dumps(list(keys)).decode(), **params})

    def encode_uuid(self, value: UUID) -> str:
        return value.hex

    def encode_json(self, data: bytes) -> str:
        return data.decode()

    def insert_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        unique: Sequence[str] = (),
    ) -> None:
        if rows:
            sql = insert_sql(table.name, columns, self.placeholder, unique)
            connection.exec_driver_sql(sql, rows)

    def lock_names(self, connection: Connection, names: Sequence[str]) -> None:
        """Nothing: the transaction holds the database's one write lock (BEGIN IMMEDIATE)."""

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, IntegrityError) and "UNIQUE constraint failed" in str(error)

    def after_commit(self, engine: Engine, written: int) -> None:
        """Nothing: SQLite's planner uses the indexes without statistics."""

    def bulk_engine(self, engine: Engine) -> AbstractContextManager[Engine]:
        """An engine of its own on `engine`'s file whose commits checkpoint the WAL every
        BULK_CHECKPOINT_PAGES (an in-memory database is `engine` itself); its connections
        are closed on leaving."""
        name = engine.url.database
        if not name or name == ":memory:" or "mode=memory" in name:
            return nullcontext(engine)  # another engine would open another database
        return _bulk_engine(engine)

    def update_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        key: str,
        rows: list[tuple],
    ) -> None:
        if rows:
            connection.exec_driver_sql(update_sql(table.name, columns, key, self.placeholder), rows)

    def allocate_raw_blocks(self, connection: Connection, count: int) -> list[int]:
        """After the highest id: the transaction holds the database's one write lock."""
        if count <= 0:
            return []
        last = connection.exec_driver_sql(_LAST_RAW_BLOCK).scalar_one()
        return list(range(last + 1, last + 1 + count))

    def insert_messages(self, connection: Connection, rows: Iterator[tuple]) -> int:
        return insert_new(connection, self, messages, MESSAGE_COLUMNS, list(rows), MESSAGE_KEY)

    def insert_skipping_taken(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        unique: Sequence[str],
    ) -> int:
        return executemany_insert_new(connection, self.placeholder, table, columns, rows, unique)


_LAST_RAW_BLOCK = "SELECT coalesce(max(id), 0) FROM message_raws"


@contextmanager
def _bulk_engine(engine: Engine) -> Iterator[Engine]:
    url = engine.url.render_as_string(hide_password=False)
    bulk = create_store_engine(url, sqlite_checkpoint_pages=BULK_CHECKPOINT_PAGES)
    try:
        yield bulk
    finally:
        bulk.dispose()
