"""Messages chatport sends through WAHA (`outbound_messages`): history at once, sent after.

An agent's reply or a human's CRM message is stored as a message first (the write path), with
an `outbound_messages` row in the same transaction (`add_outbound`). A deliverer claims due
rows (`claim_sends`: `sending`, a new lease token, the attempt counted), sends each once, and
records the outcome while the row still carries its token: `mark_sent` (WAHA's id becomes the
message's `external_id`, so WAHA's echo of it is the same row) or `mark_failed` (pending again
for a later attempt, or `failed` with the error after the last). `retry_send` puts a failed
one back. `echoes.adopt_echoes` runs in the write path: an echo that comes back before the
send's answer does (same chat, same text, from the channel) becomes the pending row's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, delete, func, insert, select, update

from chatport.domain.keys import message_key
from chatport.store.jobs.wakeups import AGENT_JOBS, notify
from chatport.store.tables import chats, messages, outbound_messages
from chatport.store.write_path.message_keys import keys_of_ids

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
SHOWN_STATES = {PENDING: PENDING, SENDING: PENDING, SENT: SENT, FAILED: FAILED}
"""The send state the API and console show (`sending` is a pending send under way)."""
UNSENT = (PENDING, SENDING)


def message_row_id(connection: Connection, channel_id: int, external_id: str) -> int:
    """The `messages.id` of a message chatport just stored under its own `external_id` (an id
    of no WhatsApp form: its key is itself)."""
    return connection.execute(
        select(messages.c.id).where(
            messages.c.channel_id == channel_id, messages.c.message_key == external_id
        )
    ).scalar_one()


def add_outbound(
    connection: Connection,
    *,
    message_id: int,
    tenant_id: int,
    channel_id: int,
    chat_id: str,
    origin: str,
    text: str,
    now: datetime,
    agent_job_id: UUID | None = None,
    author: str | None = None,
    lease: timedelta | None = None,
) -> UUID | None:
    """Record that the stored message `message_id` is to be sent: pending and due now, or,
    with `lease`, claimed at once by the caller (the token it holds it with, returned)."""
    token = uuid4() if lease is not None else None
    connection.execute(
        insert(outbound_messages).values(
            message_id=message_id,
            tenant_id=tenant_id,
            channel_id=channel_id,
            chat_id=chat_id,
            origin=origin,
            agent_job_id=agent_job_id,
            author=author,
            text=text,
            state=SENDING if token else PENDING,
            attempts=1 if token else 0,
            next_attempt_at=now + lease if lease is not None else now,
            lease_token=token,
            created_at=now,
            updated_at=now,
        )
    )
    if token is None:
        notify(connection, AGENT_JOBS)  # deliverers send it
    return token


def _due(now: datetime) -> Any:
    return outbound_messages.c.state.in_(UNSENT) & (outbound_messages.c.next_attempt_at <= now)


def next_send_due(connection: Connection, skip_channels: Collection[int] = ()) -> datetime | None:
    """When the next send is due (None: none waits), leaving out `skip_channels`."""
    query = select(func.min(outbound_messages.c.next_attempt_at)).where(
        outbound_messages.c.state.in_(UNSENT)
    )
    if skip_channels:
        query = query.where(outbound_messages.c.channel_id.not_in(list(skip_channels)))
    return connection.execute(query).scalar()


def claim_sends(
    connection: Connection,
    now: datetime,
    lease: timedelta,
    limit: int,
    *,
    room: Mapping[int, int] | None = None,
    per_channel: int | None = None,
) -> list[Any]:
    """Claim due sends as `agent_jobs.claim_jobs` claims jobs (same bounds); the rows as
    claimed: `sending`, `attempts` counting this one, a new `lease_token`."""
    busy = dict(room or {})
    query = select(outbound_messages.c.message_id, outbound_messages.c.channel_id).where(_due(now))
    if per_channel is not None:
        full = [channel for channel, count in busy.items() if count >= per_channel]
        if full:
            query = query.where(outbound_messages.c.channel_id.not_in(full))
    rows = connection.execute(
        query.order_by(outbound_messages.c.next_attempt_at)
        .limit(limit * 4)
        .with_for_update(skip_locked=True)
    ).all()
    picked: list[int] = []
    for message_id, channel_id in rows:
        if len(picked) == limit:
            break
        if per_channel is not None and busy.get(channel_id, 0) >= per_channel:
            continue
        busy[channel_id] = busy.get(channel_id, 0) + 1
        picked.append(message_id)
    if not picked:
        return []
    tokens = {message_id: uuid4() for message_id in picked}
    for message_id, token in tokens.items():
        connection.execute(
            update(outbound_messages)
            .where(outbound_messages.c.message_id == message_id)
            .values(
                state=SENDING,
                attempts=outbound_messages.c.attempts + 1,
                next_attempt_at=now + lease,
                lease_token=token,
                updated_at=now,
            )
        )
    claimed = connection.execute(
        select(outbound_messages).where(outbound_messages.c.message_id.in_(picked))
    )
    found = {row.message_id: row for row in claimed}
    return [found[message_id] for message_id in picked]


def _held(message_id: int, token: UUID | None) -> Any:
    return (outbound_messages.c.message_id == message_id) & (
        outbound_messages.c.lease_token == token
    )


def mark_sent(
    connection: Connection, message_id: int, token: UUID, sent_id: str, now: datetime
) -> bool:
    """WAHA sent it as `sent_id`: `sent`, and the message's `external_id` becomes `sent_id`
    (a copy of its echo stored meanwhile under that id is removed); False when the row carries
    another token (another sender, or its echo, settled it)."""
    done = connection.execute(
        update(outbound_messages)
        .where(_held(message_id, token), outbound_messages.c.state == SENDING)
        .values(state=SENT, sent_id=sent_id, error=None, lease_token=None, updated_at=now)
    )
    if done.rowcount != 1:
        return False
    row = connection.execute(
        select(messages.c.channel_id, messages.c.chat_id).where(messages.c.id == message_id)
    ).one()
    connection.execute(
        delete(messages).where(
            messages.c.channel_id == row.channel_id,
            messages.c.message_key == message_key(True, row.chat_id, sent_id),
            messages.c.id != message_id,
            messages.c.from_me,
        )
    )
    rename_message(connection, message_id, sent_id)
    return True


def rename_message(connection: Connection, message_id: int, external_id: str) -> None:
    """Give a stored message the id WAHA knows it by (its chat's preview follows)."""
    row = connection.execute(
        select(messages.c.channel_id, messages.c.chat_id, messages.c.external_id).where(
            messages.c.id == message_id
        )
    ).one()
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(
            external_id=external_id,
            message_key=message_key(True, row.chat_id, external_id),
        )
    )
    connection.execute(
        update(chats)
        .where(
            chats.c.channel_id == row.channel_id,
            chats.c.chat_id == row.chat_id,
            chats.c.last_message_id == row.external_id,
        )
        .values(last_message_id=external_id)
    )


def mark_failed(
    connection: Connection,
    message_id: int,
    token: UUID,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> bool:
    """The attempt failed: pending again until `retry_at`, or `failed` (None: the last
    attempt), with the error; False when the row carries another token."""
    done = connection.execute(
        update(outbound_messages)
        .where(_held(message_id, token), outbound_messages.c.state == SENDING)
        .values(
            state=PENDING if retry_at else FAILED,
            next_attempt_at=retry_at,
            error=error,
            lease_token=None,
            updated_at=now,
        )
    )
    return done.rowcount == 1


def postpone(
    connection: Connection, message_id: int, token: UUID, until: datetime, now: datetime
) -> bool:
    """Not sent now (the channel is at its send rate): pending until `until`, the attempt not
    counted; False when the row carries another token."""
    done = connection.execute(
        update(outbound_messages)
        .where(_held(message_id, token), outbound_messages.c.state == SENDING)
        .values(
            state=PENDING,
            attempts=outbound_messages.c.attempts - 1,
            next_attempt_at=until,
            lease_token=None,
            updated_at=now,
        )
    )
    return done.rowcount == 1


def release_sends(
    connection: Connection, held: Collection[tuple[int, UUID | None]], now: datetime
) -> int:
    """Give back sends stopped midway (the server is stopping): pending, due now, the
    attempt not counted; how many were released."""
    released = 0
    for message_id, token in held:
        result = connection.execute(
            update(outbound_messages)
            .where(_held(message_id, token), outbound_messages.c.state == SENDING)
            .values(
                state=PENDING,
                attempts=outbound_messages.c.attempts - 1,
                next_attempt_at=now,
                lease_token=None,
                updated_at=now,
            )
        )
        released += result.rowcount
    return released


def retry_send(connection: Connection, message_id: int, now: datetime) -> bool:
    """Send a failed message again (pending, due now, its attempts from zero); False when it
    is not a failed send."""
    done = connection.execute(
        update(outbound_messages)
        .where(outbound_messages.c.message_id == message_id, outbound_messages.c.state == FAILED)
        .values(state=PENDING, attempts=0, next_attempt_at=now, error=None, updated_at=now)
    )
    if done.rowcount == 1:
        notify(connection, AGENT_JOBS)
    return done.rowcount == 1


def find_send(
    connection: Connection, channel_id: int, chat_id: str, external_id: str
) -> Any | None:
    """The send of the chat's message `external_id` (None: no such message chatport sends)."""
    return connection.execute(
        select(outbound_messages)
        .join(messages, messages.c.id == outbound_messages.c.message_id)
        .where(
            messages.c.channel_id == channel_id,
            messages.c.chat_id == chat_id,
            messages.c.message_key.in_(list(keys_of_ids(connection, channel_id, [external_id]))),
        )
    ).first()


def count_by_state(connection: Connection) -> dict[str, int]:
    """How many outbound messages are in each state (a gauge)."""
    query = select(outbound_messages.c.state, func.count()).group_by(outbound_messages.c.state)
    return {state: count for state, count in connection.execute(query)}
