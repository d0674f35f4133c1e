"""PostgreSQL bulk path: binary COPY for large batches, one `INSERT … unnest` for small ones.

New messages are COPYed straight into `messages` under a savepoint: the batch's chats are
locked and its ids were checked, so a conflict means another writer stored one of the ids in
another chat meanwhile. Then, and only then, the savepoint is rolled back and the rows go
through a temp table and `INSERT … SELECT … ON CONFLICT DO NOTHING`.

Up to `SMALL` rows (live webhooks write a few messages per transaction) an insert is ONE
statement of arrays, `INSERT … SELECT FROM unnest(…)`, instead of COPY's several round trips
(and the savepoint): its text is the same every time, so psycopg prepares it once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.adapt import Dumper
from psycopg.errors import UniqueViolation
from psycopg.pq import Format
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy import text as text_sql
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from chatport.store.bulk import MESSAGE_COLUMNS, MESSAGE_KEY, QueryBuilder
from chatport.store.tables import messages
from chatport.store.types import UtcDateTime

logger = logging.getLogger(__name__)

SMALL = 100
"""Row counts up to which an insert is one `INSERT … unnest` statement rather than a COPY."""
STAGING = "chatport_messages_in"
JSONB_OID = 3802
_COLUMNS = ", ".join(MESSAGE_COLUMNS)
_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} "
    "(LIKE messages INCLUDING DEFAULTS EXCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS"
)
_MOVE_MESSAGES = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} "
    f"ON CONFLICT ({', '.join(MESSAGE_KEY)}) DO NOTHING"
)
_COPY_TYPES = (  # most specific first: UtcDateTime wraps DateTime, BigInteger is an Integer
    (UtcDateTime, "timestamptz"),
    (Boolean, "bool"),
    (BigInteger, "int8"),
    (Integer, "int4"),
    (Uuid, "uuid"),
    (JSON, "jsonb"),
    (String, "text"),
)


class SerialisedJsonbDumper(Dumper):
    """COPY's jsonb values arrive as JSON bytes already serialised (jsoncodec.dumps); binary
    jsonb is a version byte (1) followed by that text, so nothing is encoded twice."""

    format = Format.BINARY
    oid = JSONB_OID

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj


def copy_type(column_type: Any) -> str:
    """The type name binary COPY uses for a column type of `store.tables`."""
    for kind, name in _COPY_TYPES:
        if isinstance(column_type, kind):
            return name
    raise TypeError(f"no COPY type for {column_type!r}")


def copy_rows(
    cursor: Any, table: Table, columns: Sequence[str], rows: Iterable[tuple], into: str = ""
) -> None:
    """Binary COPY of `rows` (values in `columns` order, typed as in `table`) into `table`,
    or into the table named `into` that has the same columns."""
    types = [copy_type(table.c[name].type) for name in columns]
    cursor.adapters.register_dumper(None, SerialisedJsonbDumper)
    statement = f"COPY {into or table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


class PlannerStatistics:
    """ANALYZE the write path's tables when they have outgrown their statistics.

    During a first bulk load the tables grow from nothing faster than autovacuum analyses
    them, and a planner that believes a table is tiny picks a scan per key instead of an index
    lookup: imports slow down quadratically. Every `check_every` written rows this checks
    `pg_stat_user_tables` (one cheap query) and analyses a table never analysed or modified by
    more than four times the rows it had at its last analyse: a handful of ANALYZEs over a
    load of millions of rows.
    """

    TABLES = {
        "messages": "(channel_id, external_id, chat_id, sent_at, session_id, contact_id)",
        "sessions": "(channel_id, chat_id, last_activity_at, started_at)",
        "chats": "(channel_id, chat_id, last_message_at)",
        "contacts": "(tenant_id, wa_id, phone, lid)",
    }
    """The tables and the columns their lookups filter on (the wide text columns are left
    out: sampling them is most of an ANALYZE's cost and no plan depends on them)."""

    def __init__(self, check_every: int = 10_000) -> None:
        self._check_every = check_every
        self._since_check = 0
        self._checking = False
        self._lock = threading.Lock()

    def note(self, engine: Engine, written: int) -> None:
        """Count written rows; when enough were written, check (and analyse) in a thread of
        its own, so the writer does not wait for an ANALYZE (one check at a time)."""
        with self._lock:
            self._since_check += written
            if self._since_check < self._check_every or self._checking:
                return
            self._since_check = 0
            self._checking = True
        threading.Thread(target=self._check, args=(engine,), daemon=True).start()

    def _check(self, engine: Engine) -> None:
        try:
            self._analyse_stale(engine)
        except SQLAlchemyError as error:  # housekeeping: the batch is committed already
            logger.warning("planner statistics not refreshed: %s", error)
        finally:
            with self._lock:
                self._checking = False

    def _analyse_stale(self, engine: Engine) -> None:
        with engine.connect() as connection:
            stale = [
                name
                for name, tuples, modified in connection.execute(
                    _STALE_QUERY, {"names": list(self.TABLES)}
                )
                if tuples < 0 or modified > max(1_000, 4 * tuples)
            ]
            for name in stale:
                connection.exec_driver_sql(f"ANALYZE {name} {self.TABLES[name]}")
            connection.commit()


_STALE_QUERY = text_sql(
    "SELECT c.relname, c.reltuples, coalesce(s.n_mod_since_analyze, 0) "
    "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE c.relname = ANY(:names) AND c.relnamespace = current_schema()::regnamespace"
)


class PostgresBulk:
    """BulkOps for PostgreSQL. Key lookups are LATERAL joins on the unnested keys: a nested
    loop of index lookups whatever the planner believes about the table's size."""

    name = "postgresql"
    placeholder = "%s"

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
        self, connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple]
    ) -> None:
        if len(rows) <= SMALL:
            _insert_arrays(connection, table, columns, rows)
        else:
            with connection.connection.driver_connection.cursor() as cursor:
                copy_rows(cursor, table, columns, rows)

    def is_unique_violation(self, error: BaseException) -> bool:
        if isinstance(error, IntegrityError):
            error = error.orig or error
        return isinstance(error, UniqueViolation)

    def after_commit(self, engine: Engine, written: int) -> None:
        self._statistics.note(engine, written)

    def update_rows(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        key: str,
        rows: list[tuple],
    ) -> None:
        """One `UPDATE … FROM unnest(arrays)`: a single round trip whatever the row count."""
        if not rows:
            return
        names = [f"c{i}" for i in range(len(columns))]
        types = [copy_type(table.c[name].type) for name in (*columns, key)]
        assignments = ", ".join(
            f"{column} = v.{name}" for column, name in zip(columns, names, strict=True)
        )
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        connection.exec_driver_sql(
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
        return _insert_arrays(connection, table, columns, rows, unique)

    def insert_messages(self, connection: Connection, rows: Iterator[tuple]) -> int:
        first = list(itertools.islice(rows, SMALL + 1))
        if len(first) <= SMALL:
            return _insert_arrays(connection, messages, MESSAGE_COLUMNS, first, MESSAGE_KEY)
        rows = itertools.chain(first, rows)
        sent: list[tuple] = []

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
        with connection.connection.driver_connection.cursor() as cursor:
            cursor.execute(_CREATE_STAGING)
            cursor.execute(f"TRUNCATE {STAGING}")
            copy_rows(cursor, messages, MESSAGE_COLUMNS, rows, into=STAGING)
            cursor.execute(_MOVE_MESSAGES)
            return cursor.rowcount


def _insert_arrays(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple],
    unique: Sequence[str] = (),
) -> int:
    """Insert `rows` as ONE statement of column arrays (skipping rows whose `unique` key is
    taken, when given); return how many were inserted."""
    if not rows:
        return 0
    kinds = [copy_type(table.c[name].type) for name in columns]
    arrays = [list(values) for values in zip(*rows, strict=True)]
    for index, kind in enumerate(kinds):
        if kind == "jsonb":  # serialised JSON bytes: sent as text, cast on the server
            arrays[index] = [None if v is None else v.decode() for v in arrays[index]]
    result = connection.exec_driver_sql(
        _insert_sql(table.name, tuple(columns), tuple(kinds), tuple(unique)), tuple(arrays)
    )
    return result.rowcount


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple, kinds: tuple, unique: tuple) -> str:
    names = [f"c{index}" for index in range(len(columns))]
    arrays = ", ".join(f"%s::{'text' if kind == 'jsonb' else kind}[]" for kind in kinds)
    values = ", ".join(
        f"{name}::jsonb" if kind == "jsonb" else name
        for name, kind in zip(names, kinds, strict=True)
    )
    conflict = f" ON CONFLICT ({', '.join(unique)}) DO NOTHING" if unique else ""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "
        f"FROM unnest({arrays}) AS v({', '.join(names)}){conflict}"
    )
