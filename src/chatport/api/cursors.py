"""Opaque page cursors: a row's sort key, base64url-encoded JSON, or a row id in digits.

Cursors come back from clients, so decoding is strict: a cursor is at most `MAX_LENGTH`
characters, its id a positive 64-bit integer, its time an aware ISO 8601 instant that is a
valid UTC datetime; anything else is a 400, never a query.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from fastapi import HTTPException

MAX_LENGTH = 200
"""The longest cursor accepted (those chatport makes are under 80 characters)."""
MAX_ID = 2**63 - 1
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def encode(*key: Any) -> str:
    """The cursor after a row whose sort key is `key`."""
    values = [
        value.isoformat()
        if isinstance(value, datetime)
        else str(value)
        if isinstance(value, UUID)
        else value
        for value in key
    ]
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _key(cursor: str) -> list[Any]:
    """The sort key in a cursor made by `encode`; 400 when it is not one."""
    if len(cursor) > MAX_LENGTH or not cursor.isascii():
        raise _invalid()
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(text)
    except (binascii.Error, ValueError):
        raise _invalid() from None
    if not isinstance(key, list):
        raise _invalid()
    return key


def decode_time_and_id(cursor: str | None) -> tuple[datetime, int] | None:
    """(UTC timestamp, row id) from a cursor made by `encode`; 400 when it is not one."""
    if not cursor:
        return None
    key = _key(cursor)
    if not (len(key) == 2 and isinstance(key[0], str)):
        raise _invalid()
    at, row_id = key
    if type(row_id) is not int or not 0 < row_id <= MAX_ID or len(at) > 40:
        raise _invalid()
    return _time(at), row_id


def decode_time_and_uuid(cursor: str | None) -> tuple[datetime, UUID] | None:
    """(UTC timestamp, row UUID) from a cursor made by `encode`; 400 when it is not one."""
    if not cursor:
        return None
    key = _key(cursor)
    if not (len(key) == 2 and all(isinstance(part, str) for part in key)):
        raise _invalid()
    at, row_id = key
    if len(at) > 40 or len(row_id) > 36:
        raise _invalid()
    try:
        return _time(at), UUID(row_id)
    except ValueError:
        raise _invalid() from None


def decode_text(cursor: str | None, max_length: int = 100) -> str | None:
    """The text (a name) of a cursor made by `encode(text)`; 400 when it is not one."""
    if not cursor:
        return None
    key = _key(cursor)
    if not (len(key) == 1 and isinstance(key[0], str) and 0 < len(key[0]) <= max_length):
        raise _invalid()
    return key[0]


def _time(at: str) -> datetime:
    if len(at) > 40:
        raise _invalid()
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid() from None
    if not _EARLIEST <= moment <= _LATEST:
        raise _invalid()
    return moment


def decode_id(cursor: str | None) -> int:
    """The row id of a digits cursor (0 for none); 400 when it is not a positive 64-bit
    integer written in ASCII digits."""
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 19 or int(cursor) > MAX_ID:
        raise _invalid()
    return int(cursor)


def _invalid() -> HTTPException:
    return HTTPException(400, "invalid cursor")
