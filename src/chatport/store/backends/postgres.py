"""PostgreSQL bulk path: binary COPY for large batches, one `INSERT … unnest` for small ones.

New messages are COPYed straight into `messages` under a savepoint: the batch's chats are
locked and its ids were checked, so a conflict means another writer stored one of the ids in
another chat meanwhile. Then, and only then, the savepoint is rolled back and the rows go
through a temp table and `INSERT … SELECT … ON CONFLICT DO NOTHING`.

Up to `SMALL` rows (live webhooks write a few messages per transaction) an insert is ONE
statement of arrays, `INSERT … SELECT FROM unnest(…)`, instead of COPY's several round trips
(and the savepoint): its text is the same every time, so psycopg prepares it once (both
statements: `pg_copy`). Inserts without a count and updates are queued and travel with the
transaction's next statement or its COMMIT, in one round trip (`pg_pipeline`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.errors import UniqueViolation
from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    Select,
    Table,
    Text,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from chatport.store.backends import pg_pipeline
from chatport.store.backends.bulk import MESSAGE_COLUMNS, MESSAGE_KEY, QueryBuilder
from chatport.store.backends.pg_copy import arrays_statement, copy_rows, copy_type, insert_arrays
from chatport.store.backends.pg_statistics import PlannerStatistics
from chatport.store.tables import messages

__all__ = ["SMALL", "STAGING", "PostgresBulk", "copy_rows", "copy_type"]

SMALL = 100
"""Row counts up to which an insert is one `INSERT … unnest` statement rather than a COPY."""
STAGING = "chatport_messages_in"
_COLUMNS = ", ".join(MESSAGE_COLUMNS)
_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} "
    "(LIKE messages INCLUDING DEFAULTS EXCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS"
)
_MOVE_MESSAGES = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} "
    f"ON CONFLICT ({', '.join(MESSAGE_KEY)}) DO NOTHING"
)


class PostgresBulk:
    """BulkOps for PostgreSQL. Key lookups are LATERAL joins on the unnested keys: a nested
    loop of index lookups whatever the planner believes about the table's size."""

    name = "postgresql"
    placeholder = "%s"
    concurrent_writers = True
    import_chunk_size = 10_000
    """Each chunk costs some 20 statements and a commit besides its rows; larger chunks pay
    that less often, at the cost of the memory of the chunks in flight."""

    def __init__(self) -> None:
        self._statistics = PlannerStatistics()
        self._lookups: dict[QueryBuilder, Select] = {}

    def lookup(
        self, connection: Connection, build: QueryBuilder, keys: Sequence[str], **params: Any
    ) -> CursorResult:
        query = self._lookups.get(build)
        if query is None:
            values = func.unnest(bindparam("keys", type_=ARRAY(Text))).table_valued("value")
            values = values.render_derived()
            # OFFSET 0 keeps the planner from flattening the lateral lookup into a (hash) join.
            found = build(lambda column: column == values.c.value).offset(0).lateral()
            query = select(*found.c).select_from(values).join(found, true())
            self._lookups[build] = query
        return connection.execute(query, {"keys": list(keys), **params})

    def encode_time(self, value: datetime) -> datetime:
        return value

    def encode_uuid(self, value: UUID) -> UUID:
        return value

    def encode_json(self, data: bytes) -> bytes:
        return data

    def insert_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        unique: Sequence[str] = (),
    ) -> None:
        """Small (or skipping taken keys): queued, sent with the next statement (pg_pipeline)."""
        if not rows:
            return
        if len(rows) <= SMALL or unique:
            pg_pipeline.queue(connection, *arrays_statement(table, columns, rows, unique))
        else:
            pg_pipeline.send_queued(connection)
            with connection.connection.driver_connection.cursor() as cursor:
                copy_rows(cursor, table, columns, rows)

    def lock_names(self, connection: Connection, names: Sequence[str]) -> None:
        keys = sorted({_lock_key(name) for name in names})
        if keys:
            connection.exec_driver_sql(_LOCK_SQL, (keys,))

    def is_unique_violation(self, error: BaseException) -> bool:
        if isinstance(error, IntegrityError):
            error = error.orig or error
        return isinstance(error, UniqueViolation)

    def after_commit(self, engine: Engine, written: int) -> None:
        self._statistics.note(engine, written)

    def bulk_engine(self, engine: Engine) -> AbstractContextManager[Engine]:
        """`engine` itself: the server checkpoints on its own."""
        return nullcontext(engine)

    def update_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        key: str,
        rows: list[tuple],
    ) -> None:
        """One `UPDATE … FROM unnest(arrays)` whatever the row count, queued (pg_pipeline)."""
        if not rows:
            return
        names = [f"c{i}" for i in range(len(columns))]
        types = [copy_type(table.c[name].type) for name in (*columns, key)]
        assignments = ", ".join(
            f"{column} = v.{name}" for column, name in zip(columns, names, strict=True)
        )
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        pg_pipeline.queue(
            connection,
            f"UPDATE {table.name} SET {assignments} "
            f"FROM unnest({arrays}) AS v({', '.join(names)}, k) WHERE {table.name}.{key} = v.k",
            tuple(list(values) for values in zip(*rows, strict=True)),
        )

    def insert_skipping_taken(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        unique: Sequence[str],
    ) -> int:
        """One `INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`: one statement
        whatever the row count (an executemany is one statement per row on the server)."""
        return insert_arrays(connection, table, columns, rows, unique)

    def allocate_raw_blocks(self, connection: Connection, count: int) -> list[int]:
        """From the table's sequence, with the queued statements (one round trip)."""
        if count <= 0:
            return []
        return [row[0] for row in pg_pipeline.fetch(connection, _NEXT_RAW_BLOCKS, (count,))]

    def insert_messages(self, connection: Connection, rows: Iterator[tuple]) -> int:
        first = list(itertools.islice(rows, SMALL + 1))
        if len(first) <= SMALL:
            return insert_arrays(connection, messages, MESSAGE_COLUMNS, first, MESSAGE_KEY)
        rows = itertools.chain(first, rows)
        sent: list[tuple] = []
        pg_pipeline.send_queued(connection)

        def keeping() -> Iterator[tuple]:
            for row in rows:
                sent.append(row)
                yield row

        savepoint = connection.begin_nested()
        try:
            with connection.connection.driver_connection.cursor() as cursor:
                copy_rows(cursor, messages, MESSAGE_COLUMNS, keeping())
        except UniqueViolation:
            savepoint.rollback()
            sent.extend(rows)  # whatever COPY had not consumed when it failed
            return self._insert_skipping_conflicts(connection, sent)
        savepoint.commit()
        return len(sent)

    def _insert_skipping_conflicts(self, connection: Connection, rows: list[tuple]) -> int:
        pg_pipeline.send_queued(connection)
        with connection.connection.driver_connection.cursor() as cursor:
            cursor.execute(_CREATE_STAGING)
            cursor.execute(f"TRUNCATE {STAGING}")
            copy_rows(cursor, messages, MESSAGE_COLUMNS, rows, into=STAGING)
            cursor.execute(_MOVE_MESSAGES)
            return cursor.rowcount


_NEXT_RAW_BLOCKS = "SELECT nextval('message_raws_id_seq') FROM generate_series(1, %s)"
_LOCK_SQL = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) s"
)


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )
