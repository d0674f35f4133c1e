"""PostgreSQL's bulk statements: binary COPY of rows, and ONE `INSERT … SELECT FROM unnest(…)`
of column arrays, each typed from the columns of `store.tables` (`copy_type`). `postgres.py`
(`PostgresBulk`) decides which one a batch takes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Uuid,
)

from chatport.store.backends import pg_pipeline
from chatport.store.column_types import UtcDateTime

JSONB_OID = 3802
_COPY_TYPES = (  # most specific first: UtcDateTime wraps DateTime, BigInteger is an Integer
    (UtcDateTime, "timestamptz"),
    (Boolean, "bool"),
    (BigInteger, "int8"),
    (SmallInteger, "int2"),
    (Integer, "int4"),
    (LargeBinary, "bytea"),
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


def insert_arrays(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple],
    unique: Sequence[str] = (),
) -> int:
    """Insert `rows` as ONE statement of column arrays (skipping rows whose `unique` key is
    taken, when given), with the queued statements; return how many were inserted."""
    if not rows:
        return 0
    return pg_pipeline.execute(connection, *arrays_statement(table, columns, rows, unique))


def arrays_statement(
    table: Table, columns: Sequence[str], rows: Sequence[tuple], unique: Sequence[str]
) -> tuple[str, tuple[list, ...]]:
    """The SQL and parameters of ONE insert of `rows` as column arrays (`insert_arrays`)."""
    kinds = [copy_type(table.c[name].type) for name in columns]
    arrays = [list(values) for values in zip(*rows, strict=True)]
    for index, kind in enumerate(kinds):
        if kind == "jsonb":  # serialised JSON bytes: sent as text, cast on the server
            arrays[index] = [None if v is None else v.decode() for v in arrays[index]]
    return _insert_sql(table.name, tuple(columns), tuple(kinds), tuple(unique)), tuple(arrays)


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
