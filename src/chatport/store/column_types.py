"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

Id = BigInteger().with_variant(Integer(), "sqlite")
"""Auto-increment primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite."""

Json = JSON().with_variant(JSONB(), "postgresql")
"""JSON documents: JSONB on PostgreSQL, JSON text on SQLite."""

SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy stores datetimes in SQLite; bulk paths write the same text."""


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC instant: `timestamptz` on PostgreSQL, naive-UTC text on SQLite.

    Writes accept aware datetimes (converted to UTC) or naive ones (taken as UTC);
    reads always return aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_datetime(value: datetime) -> str:
    """The SQLite text of an aware or naive-UTC datetime, as `UtcDateTime` writes it."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if value.microsecond:
        return value.isoformat(" ")[:-6]
    # Whole seconds (every message timestamp): from tables, three times faster than
    # isoformat, which the bulk paths call once per row.
    minute = _MINUTES[value.hour * 60 + value.minute]
    return f"{_day_text(value.toordinal())} {minute}:{_SECONDS[value.second]}"


_MINUTES = [f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60)]
_SECONDS = [f"{second:02d}.000000" for second in range(60)]


@lru_cache(maxsize=4_096)
def _day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()
