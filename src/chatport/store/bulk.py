"""What differs between the back ends, behind one small interface used by the write path.

Everything else the write path does is plain SQLAlchemy Core, shared by both back ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, Select, Table
from sqlalchemy.sql.dml import Insert

MESSAGE_COLUMNS = (
    "tenant_id",
    "channel_id",
    "external_id",
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
    "origin",
    "raw",
    "created_at",
)
"""The order of the values in a message row handed to `BulkOps.insert_messages`."""


class BulkOps(Protocol):
    """The back-end specific half of the write path."""

    name: str

    def insert(self, table: Table) -> Insert:
        """An INSERT that supports `.on_conflict_do_nothing()`."""

    def in_values(self, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
        """`column IN values` as one bound parameter, whatever the number of values."""

    def lock(self, select: Select) -> Select:
        """The select, locking its rows until commit where the back end can."""

    def encode_time(self, value: datetime) -> Any:
        """A datetime as the message row wants it."""

    def encode_uuid(self, value: UUID) -> Any:
        """A UUID as the message row wants it."""

    def encode_json(self, data: bytes) -> Any:
        """Serialised JSON bytes as the message row wants them."""

    def insert_rows(
        self, connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple]
    ) -> None:
        """Bulk insert new rows (values encoded with the encode_* methods) into `table`."""

    def insert_messages(self, connection: Connection, rows: list[tuple]) -> int:
        """Bulk insert message rows (MESSAGE_COLUMNS order), skipping existing
        (channel_id, external_id); return how many were inserted."""
