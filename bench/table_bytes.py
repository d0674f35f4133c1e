"""Bytes on disk per stored message, per table: heap, TOAST and indexes.

    python bench/table_bytes.py --db DATABASE_URL [--tables messages,message_raws]

PostgreSQL: `pg_relation_size` (the heap's main fork), `pg_table_size` minus it (TOAST, free
space and visibility maps), `pg_indexes_size`, and `pg_total_relation_size` (all of them), each
index's `pg_relation_size` too. SQLite: the `dbstat` virtual table's page sizes (the pages
each table and index holds, free space in them included); without `dbstat`, the pages of the
whole file. Figures are bytes divided by the number of messages stored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, create_engine, text

TABLES = ("messages", "message_raws")
"""The tables a message's bytes live in (those absent from the database are skipped)."""


@dataclass
class TableBytes:
    """One table's bytes: `heap` (its rows' pages), `toast` (out-of-line values, PostgreSQL's
    free space and visibility maps), `indexes` (each by name in `by_index`)."""

    table: str
    heap: int = 0
    toast: int = 0
    indexes: int = 0
    by_index: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.heap + self.toast + self.indexes


def measure(connection: Connection, tables: Sequence[str] = TABLES) -> list[TableBytes]:
    """The bytes of each of `tables` that exists, on the connection's back end."""
    if connection.dialect.name == "postgresql":
        return [_postgres(connection, name) for name in tables if _pg_exists(connection, name)]
    return _sqlite(connection, tables)


def per_message(connection: Connection, tables: Sequence[str] = TABLES) -> dict[str, str]:
    """`key=value` figures: messages stored, then bytes per message of each table (total,
    heap, toast, indexes) and of all of them together."""
    count = connection.execute(text("SELECT count(*) FROM messages")).scalar_one()
    figures = {"stored_messages": str(count)}
    measured = measure(connection, tables)
    for item in measured:
        for part in ("total", "heap", "toast", "indexes"):
            figures[f"{item.table}_{part}_b"] = _per(getattr(item, part), count)
    figures["bytes_per_message"] = _per(sum(item.total for item in measured), count)
    return figures


def index_figures(connection: Connection, tables: Sequence[str] = TABLES) -> dict[str, str]:
    """Bytes per message of each index of `tables`."""
    count = connection.execute(text("SELECT count(*) FROM messages")).scalar_one()
    return {
        f"{name}_b": _per(size, count)
        for item in measure(connection, tables)
        for name, size in item.by_index.items()
    }


def _per(size: int, count: int) -> str:
    return f"{size / count:.0f}" if count else "0"


def _pg_exists(connection: Connection, table: str) -> bool:
    return connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None


def _postgres(connection: Connection, table: str) -> TableBytes:
    heap, table_size, indexes = connection.execute(
        text(
            "SELECT pg_relation_size(c), pg_table_size(c), pg_indexes_size(c) "
            "FROM CAST(:t AS regclass) AS c"
        ),
        {"t": table},
    ).one()
    by_index = dict(
        connection.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) "
                "FROM pg_index WHERE indrelid = CAST(:t AS regclass) ORDER BY 1"
            ),
            {"t": table},
        ).all()
    )
    return TableBytes(table, heap, table_size - heap, indexes, by_index)


def _sqlite(connection: Connection, tables: Sequence[str]) -> list[TableBytes]:
    owners = dict(
        connection.execute(
            text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
        ).all()
    )
    try:
        pages = connection.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        sizes = dict(pages.all())
    except Exception:  # SQLite built without dbstat: the whole file, as the heap
        page_size = connection.execute(text("PRAGMA page_size")).scalar_one()
        page_count = connection.execute(text("PRAGMA page_count")).scalar_one()
        return [TableBytes("database", heap=page_size * page_count)]
    out = []
    for table in tables:
        if table not in owners:
            continue
        item = TableBytes(table, heap=sizes.get(table, 0))
        for name, owner in owners.items():
            if owner == table and name != table:
                item.by_index[name] = sizes.get(name, 0)
        item.indexes = sum(item.by_index.values())
        out.append(item)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the database URL")
    parser.add_argument("--tables", default=",".join(TABLES))
    args = parser.parse_args()
    tables = [name for name in args.tables.split(",") if name]
    engine = create_engine(args.db)
    with engine.connect() as connection:
        print(" ".join(f"{k}={v}" for k, v in index_figures(connection, tables).items()))
        print(" ".join(f"{k}={v}" for k, v in per_message(connection, tables).items()))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
