"""Outbox events and dead letters, written in the batch's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from chatport.domain.events import Event
from chatport.domain.model import Channel, Invalid, Origin
from chatport.store import jsoncodec
from chatport.store.backends.bulk import BulkOps
from chatport.store.tables import dead_letters, events

EVENT_COLUMNS = (
    "tenant_id",
    "channel_id",
    "type",
    "aggregate_type",
    "aggregate_id",
    "payload",
    "created_at",
)
DEAD_LETTER_COLUMNS = (
    "tenant_id",
    "channel_id",
    "source",
    "reason",
    "external_id",
    "payload",
    "payload_bytes",
    "payload_sha256",
    "received_at",
)
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024
"""The most of a refused payload a dead letter keeps (its length and hash are kept whole)."""
DEAD_LETTER_REASON_CHARS = 2_000


def dead_letter_row(
    tenant_id: int | None,
    channel_id: int | None,
    source: str,
    reason: str,
    external_id: str | None,
    payload: bytes | None,
    stamp: object,
) -> tuple:
    """A `dead_letters` row (`DEAD_LETTER_COLUMNS`) that every store takes: the payload's
    first `DEAD_LETTER_PAYLOAD_BYTES` as text (invalid UTF-8 and NUL as U+FFFD), its length
    and SHA-256; the reason and id shortened, without NUL."""
    text = size = digest = None
    if payload is not None:
        text = _storable(payload[:DEAD_LETTER_PAYLOAD_BYTES].decode("utf-8", "replace"))
        size, digest = len(payload), hashlib.sha256(payload).hexdigest()
    return (
        tenant_id,
        channel_id,
        source,
        _storable(reason[:DEAD_LETTER_REASON_CHARS]),
        _storable(external_id[:256]) if external_id is not None else None,
        text,
        size,
        digest,
        stamp,
    )


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def insert_events(
    connection: Connection, ops: BulkOps, channel: Channel, batch: Sequence[Event], now: datetime
) -> None:
    """Append events to the outbox."""
    stamp, json = ops.encode_time(now), ops.encode_json
    rows = [
        (
            channel.tenant_id,
            channel.id,
            event.type,
            event.aggregate_type,
            event.aggregate_id,
            json(jsoncodec.dumps(event.payload)),
            stamp,
        )
        for event in batch
    ]
    ops.insert_rows(connection, events, EVENT_COLUMNS, rows)


def insert_dead_letters(
    connection: Connection,
    ops: BulkOps,
    channel: Channel,
    origin: Origin,
    invalid: Sequence[Invalid],
    now: datetime,
) -> None:
    """Keep every refused message with its reason (`dead_letter_row`: its first 64 KiB, its
    length and hash)."""
    stamp = ops.encode_time(now)
    rows = [
        dead_letter_row(
            channel.tenant_id,
            channel.id,
            str(origin),
            item.reason,
            item.external_id,
            jsoncodec.dumps(item.raw) if item.raw is not None else None,
            stamp,
        )
        for item in invalid
    ]
    ops.insert_rows(connection, dead_letters, DEAD_LETTER_COLUMNS, rows)
