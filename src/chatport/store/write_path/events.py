"""Outbox events and dead letters, written in the batch's transaction."""

from __future__ import annotations

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
    "received_at",
)


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
    """Keep every refused message with its reason, so nothing given to chatport is lost."""
    stamp = ops.encode_time(now)
    rows = [
        (
            channel.tenant_id,
            channel.id,
            str(origin),
            item.reason,
            item.external_id,
            jsoncodec.dumps(item.raw).decode() if item.raw is not None else None,
            stamp,
        )
        for item in invalid
    ]
    ops.insert_rows(connection, dead_letters, DEAD_LETTER_COLUMNS, rows)
