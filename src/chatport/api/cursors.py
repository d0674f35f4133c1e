"""Opaque page cursors: a row's sort key, base64url-encoded JSON."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from fastapi import HTTPException


def encode(*key: Any) -> str:
    """The cursor after a row whose sort key is `key`."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_time_and_id(cursor: str | None) -> tuple[datetime, int] | None:
    """(timestamp, row id) from a cursor made by `encode`; 400 when it is not one."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = orjson.loads(text)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, int(row_id)
    except Exception:  # noqa: BLE001 - any malformed cursor is the client's error
        raise HTTPException(400, "invalid cursor") from None
