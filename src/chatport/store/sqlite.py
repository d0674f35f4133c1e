"""SQLite bulk path: WAL, one `executemany` of `INSERT … ON CONFLICT DO NOTHING`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from uuid import UUID

import orjson
from sqlalchemy import Connection, Engine, Select, Table, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert

from chatport.store.bulk import MESSAGE_COLUMNS, QueryBuilder
from chatport.store.types import sqlite_datetime


@cache
def insert_sql(table: str, columns: tuple[str, ...], on_conflict: str = "") -> str:
    """`INSERT INTO table (columns) VALUES (?, …) [ON CONFLICT …]` for executemany."""
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    return f"{sql} ON CONFLICT {on_conflict}" if on_conflict else sql


INSERT_MESSAGES = insert_sql(
    "messages", MESSAGE_COLUMNS, "(channel_id, external_id) DO NOTHING"
)


class SqliteBulk:
    """BulkOps for SQLite; the single writer holds the database lock (BEGIN IMMEDIATE)."""

    name = "sqlite"
    encode_time = staticmethod(sqlite_datetime)

    def insert(self, table: Table) -> Insert:
        return sqlite_insert(table)

    def for_each(self, values: Sequence[str], build: QueryBuilder) -> Select:
        keys = func.json_each(orjson.dumps(list(values)).decode()).table_valued("value")
        return build(lambda column: column.in_(select(keys.c.value)))

    def encode_uuid(self, value: UUID) -> str:
        return value.hex

    def encode_json(self, data: bytes) -> str:
        return data.decode()

    def insert_rows(
        self, connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple]
    ) -> None:
        if rows:
            connection.exec_driver_sql(insert_sql(table.name, tuple(columns)), rows)

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, IntegrityError) and "UNIQUE constraint failed" in str(error)

    def after_commit(self, engine: Engine, written: int) -> None:
        """Nothing: SQLite's planner uses the indexes without statistics."""

    def insert_messages(self, connection: Connection, rows: list[tuple]) -> int:
        if not rows:
            return 0
        return connection.exec_driver_sql(INSERT_MESSAGES, rows).rowcount
