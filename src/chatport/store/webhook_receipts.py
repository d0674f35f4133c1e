"""What the live path reads and writes besides messages: channels by WAHA session, webhook
receipts, channel status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, delete, select, tuple_, update

from chatport.domain.model import Channel
from chatport.store.backends.bulk import BulkOps, Match
from chatport.store.channels import channel_by_id
from chatport.store.tables import channels, dead_letters, webhook_receipts
from chatport.store.write_path.events import DEAD_LETTER_COLUMNS, dead_letter_row

RECEIPT_COLUMNS = ("channel_id", "envelope_id", "event", "received_at")


def channels_of_session(
    connection: Connection, session: str, me_id: str | None, default_timeout: timedelta
) -> list[Channel]:
    """The channels a delivery of WAHA session `session` from the number `me_id` (None: the
    delivery names none) may be for: those of that number; else those whose number is not
    known yet (all of them when the delivery names none); and of several, the one configured
    for a WAHA server (a URL: `chatport import waha`, `POST /v1/channels`) before those that
    are not (a fresh database's `default` channel, a channel created by a delivery). One
    channel: the delivery is its; several: ambiguous (`?channel=` names it)."""
    rows = connection.execute(
        select(channels.c.id, channels.c.me_id, channels.c.waha_url)
        .where(channels.c.waha_session == session)
        .order_by(channels.c.id)
    ).all()
    matching = [row for row in rows if me_id and row.me_id == me_id]
    candidates = matching or [row for row in rows if not row.me_id or not me_id]
    configured = [row for row in candidates if row.waha_url]
    if len(candidates) > 1 and len(configured) == 1:
        candidates = configured
    return [channel_by_id(connection, row.id, default_timeout) for row in candidates]


def any_webhook_keys(connection: Connection) -> bool:
    """Whether any channel has a webhook HMAC key of its own."""
    query = select(channels.c.id).where(channels.c.webhook_hmac_key.is_not(None)).limit(1)
    return connection.execute(query).first() is not None


def seen_envelopes(
    connection: Connection, ops: BulkOps, channel_id: int, envelope_ids: Sequence[str]
) -> set[str]:
    """Which of `envelope_ids` the channel has handled already."""
    if not envelope_ids:
        return set()
    found = ops.lookup(connection, _receipts, envelope_ids, channel_id=channel_id)
    return set(found.scalars())


def _receipts(match: Match) -> Select:
    return select(webhook_receipts.c.envelope_id).where(
        webhook_receipts.c.channel_id == bindparam("channel_id"),
        match(webhook_receipts.c.envelope_id),
    )


def record_receipts(
    connection: Connection,
    ops: BulkOps,
    channel_id: int,
    received: Iterable[tuple[str, str]],
    now: datetime,
) -> None:
    """Remember handled deliveries ((envelope id, event) pairs; those remembered already are
    skipped)."""
    stamp = ops.encode_time(now)
    rows = [(channel_id, envelope_id, event[:64], stamp) for envelope_id, event in received]
    unique = ("channel_id", "envelope_id")
    ops.insert_rows(connection, webhook_receipts, RECEIPT_COLUMNS, rows, unique)


def prune_receipts(connection: Connection, before: datetime, limit: int) -> int:
    """Forget up to `limit` receipts older than `before` (WAHA's retries of them are over);
    return how many went. Call it again while it returns `limit`."""
    key = (webhook_receipts.c.channel_id, webhook_receipts.c.envelope_id)
    oldest = select(*key).where(webhook_receipts.c.received_at < before).limit(limit)
    return connection.execute(delete(webhook_receipts).where(tuple_(*key).in_(oldest))).rowcount


def status_of(connection: Connection, channel_id: int) -> tuple[str | None, str | None]:
    """The channel's recorded WAHA session status and its number's id."""
    row = connection.execute(
        select(channels.c.status, channels.c.me_id).where(channels.c.id == channel_id)
    ).one_or_none()
    return (row.status, row.me_id) if row is not None else (None, None)


WORKING = "WORKING"
"""The WAHA session status in which the session sends and receives."""


def record_statuses(
    connection: Connection,
    channel_id: int,
    reports: Sequence[tuple[str, Sequence[str]]],
    me_id: str | None = None,
) -> bool:
    """Record the last of the session statuses `reports` gives ((status, the latest statuses
    its payload lists), in order; none: nothing); whether one is WORKING after another state,
    as stored before it or as its payload lists (a STARTING whose delivery was lost)."""
    if not reports:
        return False
    previous, _ = status_of(connection, channel_id)
    reconnected = False
    for status, latest in reports:
        other = previous != WORKING or any(item != WORKING for item in latest)
        reconnected = reconnected or (status == WORKING and other)
        previous = status
    set_status(connection, channel_id, reports[-1][0], me_id)
    return reconnected


def set_status(
    connection: Connection, channel_id: int, status: str, me_id: str | None = None
) -> None:
    """Record the WAHA session status of a channel (and its number's id when known)."""
    values: dict[str, object] = {"status": status[:32], "updated_at": datetime.now(UTC)}
    if me_id:
        values["me_id"] = me_id[:64]
    connection.execute(update(channels).where(channels.c.id == channel_id).values(**values))


def keep_request(
    connection: Connection,
    ops: BulkOps,
    reason: str,
    body: bytes,
    channel: Channel | None = None,
    envelope_id: str | None = None,
    source: str = "webhook",
) -> None:
    """Keep a refused request in `dead_letters` with the reason (its first 64 KiB, its
    length and hash: `dead_letter_row`)."""
    row = dead_letter_row(
        channel.tenant_id if channel else None,
        channel.id if channel else None,
        source,
        reason,
        envelope_id,
        body,
        ops.encode_time(datetime.now(UTC)),
    )
    ops.insert_rows(connection, dead_letters, DEAD_LETTER_COLUMNS, [row])


def trim_dead_letters(connection: Connection, channel_id: int | None, keep: int) -> int:
    """Drop the channel's oldest dead letters beyond the newest `keep` (`channel_id` None:
    those of no channel); how many went."""
    if channel_id is None:
        mine = dead_letters.c.channel_id.is_(None)
    else:
        mine = dead_letters.c.channel_id == channel_id
    oldest_kept = (
        select(dead_letters.c.id)
        .where(mine)
        .order_by(dead_letters.c.id.desc())
        .offset(keep - 1)
        .limit(1)
        .scalar_subquery()
    )
    return connection.execute(
        delete(dead_letters).where(mine, dead_letters.c.id < oldest_kept)
    ).rowcount
