"""PostgreSQL bulk path: binary COPY into a temp table, then one insert-select."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import ARRAY, ColumnElement, Connection, Select, String, Table, any_, literal
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.dml import Insert

from chatport.store.bulk import MESSAGE_COLUMNS

STAGING = "chatport_messages_in"
_COLUMN_TYPES = {
    "tenant_id": "bigint",
    "channel_id": "bigint",
    "external_id": "text",
    "chat_id": "text",
    "contact_id": "bigint",
    "session_id": "uuid",
    "sent_at": "timestamptz",
    "from_me": "bool",
    "content_type": "text",
    "text": "text",
    "media_url": "text",
    "media_mime": "text",
    "media_filename": "text",
    "origin": "text",
    "raw": "jsonb",
    "created_at": "timestamptz",
}
COPY_TYPES = [_COLUMN_TYPES[name] for name in MESSAGE_COLUMNS]
_COLUMNS = ", ".join(MESSAGE_COLUMNS)
CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} "
    f"({', '.join(f'{name} {_COLUMN_TYPES[name]}' for name in MESSAGE_COLUMNS)}) "
    "ON COMMIT DELETE ROWS"
)
COPY_MESSAGES = f"COPY {{table}} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
MOVE_MESSAGES = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} "
    "ON CONFLICT (channel_id, external_id) DO NOTHING"
)


class JsonbBytes(bytes):
    """JSON text already serialised; COPY sends it as jsonb without re-encoding."""


class JsonbBytesDumper(Dumper):
    """Binary jsonb is a version byte (1) followed by the JSON text."""

    format = Format.BINARY

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj


def copy_rows(cursor: Any, table: str, rows: list[tuple]) -> None:
    """Binary COPY of message rows (MESSAGE_COLUMNS order) into `table`."""
    cursor.adapters.register_dumper(JsonbBytes, JsonbBytesDumper)
    with cursor.copy(COPY_MESSAGES.format(table=table)) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


class PostgresBulk:
    """BulkOps for PostgreSQL; chats are locked with FOR UPDATE for the transaction."""

    name = "postgresql"

    def insert(self, table: Table) -> Insert:
        return pg_insert(table)

    def in_values(self, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
        return column == any_(literal(list(values), ARRAY(String)))

    def lock(self, select: Select) -> Select:
        return select.with_for_update()

    def encode_time(self, value: datetime) -> datetime:
        return value

    def encode_uuid(self, value: UUID) -> UUID:
        return value

    def encode_json(self, data: bytes) -> JsonbBytes:
        return JsonbBytes(data)

    def insert_messages(self, connection: Connection, rows: list[tuple]) -> int:
        if not rows:
            return 0
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:
            cursor.execute(CREATE_STAGING)
            cursor.execute(f"TRUNCATE {STAGING}")
            copy_rows(cursor, STAGING, rows)
            cursor.execute(MOVE_MESSAGES)
            return cursor.rowcount
