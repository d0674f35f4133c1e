"""Agent jobs in the store: claimed for delivery, their payload, their outcome.

A job is `pending` until a deliverer claims it (`delivering`, leased: a deliverer that dies
leaves it to be claimed again once the lease ends). Then it is `replied` (the agent's reply is
stored as a message), `waiting` (the agent answered 202 and will POST the reply later),
`pending` again with a later `next_attempt_at` (a failed attempt), `failed` after the last
attempt, with the error, or `skipped` (the chat's bot was off, or paused by a human's reply,
when it came to be delivered).

Each claim gives the job a new `lease_token`; the claimer writes anything about the job (its
outcome, its reply, a renewed lease) only where the job still carries that token, so a
deliverer whose lease ran out and whose job was claimed again writes nothing (`settle_job`
and `renew_lease` say False) and must not send the reply either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from sqlalchemy import Connection, desc, func, or_, select, update

from chatport.store.jobs.bot import ON, BotState, state_of
from chatport.store.tables import agent_jobs, channels, chats, contacts, messages
from chatport.store.write_path.message_keys import keys_of_ids

PENDING, DELIVERING, WAITING, REPLIED, FAILED, SKIPPED = (
    "pending",
    "delivering",
    "waiting",
    "replied",
    "failed",
    "skipped",
)
STATUSES = (PENDING, DELIVERING, WAITING, REPLIED, FAILED, SKIPPED)


def _due(now: datetime) -> Any:
    return or_(agent_jobs.c.status == PENDING, agent_jobs.c.status == DELIVERING) & (
        agent_jobs.c.next_attempt_at <= now
    )


def next_due(connection: Connection, skip_channels: Collection[int] = ()) -> datetime | None:
    """When the next job is due for delivery (None: no job waits), leaving out the channels
    in `skip_channels` (those whose deliveries are at their bound)."""
    waiting = or_(agent_jobs.c.status == PENDING, agent_jobs.c.status == DELIVERING)
    query = select(func.min(agent_jobs.c.next_attempt_at)).where(waiting)
    if skip_channels:
        query = query.where(agent_jobs.c.channel_id.not_in(list(skip_channels)))
    return connection.execute(query).scalar()


def claim_jobs(
    connection: Connection,
    now: datetime,
    lease: timedelta,
    limit: int = 20,
    *,
    room: Mapping[int, int] | None = None,
    per_channel: int | None = None,
) -> list[Any]:
    """Claim up to `limit` jobs due for delivery (pending and due, or delivering past their
    lease), oldest due first, skipping those another deliverer holds; call in a write
    transaction and commit. With `per_channel`, at most that many of one channel, less what
    `room` says the caller already delivers of it (channels at their bound are not read).
    The jobs as claimed: `delivering`, their `attempts` counting this one, a new
    `lease_token`."""
    busy = room or {}
    query = select(agent_jobs.c.id, agent_jobs.c.channel_id).where(_due(now))
    if per_channel is not None:
        full = [channel for channel, count in busy.items() if count >= per_channel]
        if full:
            query = query.where(agent_jobs.c.channel_id.not_in(full))
    rows = connection.execute(
        query.order_by(agent_jobs.c.next_attempt_at)
        .limit(limit if per_channel is None else limit * 4)
        .with_for_update(skip_locked=True)
    ).all()
    due: list[UUID] = []
    taken: dict[int, int] = dict(busy)
    for job_id, channel_id in rows:
        if len(due) == limit:
            break
        if per_channel is not None and taken.get(channel_id, 0) >= per_channel:
            continue
        taken[channel_id] = taken.get(channel_id, 0) + 1
        due.append(job_id)
    if not due:
        return []
    claimed = {
        job.id: job
        for job in connection.execute(
            update(agent_jobs)
            .where(agent_jobs.c.id.in_(due))
            .values(
                status=DELIVERING,
                attempts=agent_jobs.c.attempts + 1,
                next_attempt_at=now + lease,
                lease_token=uuid4(),
                updated_at=now,
            )
            .returning(*agent_jobs.c)
        )
    }
    return [claimed[job_id] for job_id in due]


def _held(job_id: UUID, token: UUID | None) -> Any:
    return (agent_jobs.c.id == job_id) & agent_jobs.c.lease_token.is_not_distinct_from(token)


def release_jobs(
    connection: Connection, held: Collection[tuple[UUID, UUID | None]], now: datetime
) -> int:
    """Give back jobs claimed with the lease tokens given whose delivery was stopped midway
    (the server is stopping): pending again, due now, the attempt not counted. Those another
    process took over, or whose outcome is written, are left alone. How many were released."""
    released = 0
    for job_id, token in held:
        result = connection.execute(
            update(agent_jobs)
            .where(_held(job_id, token), agent_jobs.c.status == DELIVERING)
            .values(
                status=PENDING,
                attempts=agent_jobs.c.attempts - 1,
                next_attempt_at=now,
                lease_token=None,
                updated_at=now,
            )
        )
        released += result.rowcount
    return released


def renew_lease(connection: Connection, job_id: UUID, token: UUID | None, until: datetime) -> bool:
    """Extend the caller's lease of the job to `until` (before sending its reply, so that no
    other deliverer claims it meanwhile); False when the job carries another token now."""
    held = connection.execute(
        update(agent_jobs).where(_held(job_id, token)).values(next_attempt_at=until)
    )
    return held.rowcount == 1


def take_job(
    connection: Connection, job_id: UUID, token: UUID | None, now: datetime, lease: timedelta
) -> UUID | None:
    """Take a job the caller read with `token` and that has no outcome yet (pending,
    delivering or waiting): a new token, its lease renewed (the agent's late reply by the API,
    so that two replies posted at once are sent once); None when it carries another token now,
    or has its outcome."""
    new = uuid4()
    taken = connection.execute(
        update(agent_jobs)
        .where(_held(job_id, token), agent_jobs.c.status.in_((PENDING, DELIVERING, WAITING)))
        .values(lease_token=new, next_attempt_at=now + lease, updated_at=now)
    )
    return new if taken.rowcount == 1 else None


class Prepared(NamedTuple):
    """What delivering a claimed job needs, read at once (`job_payload`)."""

    payload: dict[str, Any]
    """What the agent is sent."""
    agent_url: str | None
    """The channel's own agent."""
    handoff_minutes: float | None
    """The channel's own handoff window."""
    bot: BotState
    """The chat's bot now."""


def job_payload(connection: Connection, job: Any, now: datetime, context: int = 20) -> Prepared:
    """What the agent is sent about a claimed job: the job, its chat and contact (and, in a
    group, the participant whose burst it is), the burst's messages, the last `context`
    messages of the session (oldest first), and when a human last wrote in the chat; with
    the channel's own agent and handoff window and the chat's bot at `now` (a handful of
    queries in all)."""
    channel = connection.execute(
        select(channels.c.name, channels.c.agent_url, channels.c.handoff_minutes).where(
            channels.c.id == job.channel_id
        )
    ).one()
    contact = None
    if job.contact_id is not None:
        row = connection.execute(
            select(contacts.c.wa_id, contacts.c.phone, contacts.c.name).where(
                contacts.c.id == job.contact_id
            )
        ).first()
        contact = {"wa_id": row.wa_id, "phone": row.phone, "name": row.name} if row else None
    columns = (
        messages.c.external_id,
        messages.c.sent_at,
        messages.c.from_me,
        messages.c.origin,
        messages.c.content_type,
        messages.c.text,
        messages.c.media_url,
        messages.c.media_mime,
        messages.c.media_filename,
    )
    keys = keys_of_ids(connection, job.channel_id, list(job.message_ids))
    burst = {
        keys[row.message_key]: _message(row)
        for row in connection.execute(
            select(*columns, messages.c.message_key).where(
                messages.c.channel_id == job.channel_id,
                messages.c.message_key.in_(list(keys)),
            )
        )
    }
    recent = []
    if job.session_id is not None:
        rows = connection.execute(
            select(*columns)
            .where(messages.c.session_id == job.session_id)
            .order_by(desc(messages.c.sent_at), desc(messages.c.external_id))
            .limit(context)
        )
        recent = [_message(row) for row in reversed(rows.all())]
    participant = None
    if job.participant:
        name = connection.execute(
            select(contacts.c.name).where(
                contacts.c.tenant_id == job.tenant_id, contacts.c.wa_id == job.participant
            )
        ).scalar()
        participant = {"wa_id": job.participant, "name": name}
    chat = connection.execute(
        select(chats.c.bot, chats.c.bot_paused_until, chats.c.last_human_at).where(
            chats.c.channel_id == job.channel_id, chats.c.chat_id == job.chat_id
        )
    ).first()
    bot = state_of(chat, now) if chat is not None else BotState(ON, None, None)
    last_human = bot.last_human_at
    payload = {
        "job_id": str(job.id),
        "channel": channel.name,
        "chat_id": job.chat_id,
        "contact": contact,
        "participant": participant,
        "human": {"last_at": last_human.isoformat() if last_human else None},
        "session_id": str(job.session_id) if job.session_id else None,
        "messages": [burst[i] for i in job.message_ids if i in burst],
        "context": recent,
        "attempt": job.attempts,  # as claimed: counting this one
    }
    return Prepared(payload, channel.agent_url, channel.handoff_minutes, bot)


def _message(row: Any) -> dict[str, Any]:
    media = (
        {"url": row.media_url, "mime": row.media_mime, "filename": row.media_filename}
        if row.media_url or row.media_mime or row.media_filename
        else None
    )
    return {
        "id": row.external_id,
        "sent_at": row.sent_at.isoformat(),
        "from_me": row.from_me,
        "origin": row.origin,
        "type": row.content_type,
        "text": row.text,
        "media": media,
    }


def settle_job(
    connection: Connection,
    job_id: UUID,
    token: UUID | None,
    status: str,
    now: datetime,
    *,
    reply: str | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Record a delivery's outcome (`retry_at` puts it back to pending for then), when the job
    still carries `token`, the one it was claimed with; False when it does not (another
    process took it over: nothing written)."""
    settled = connection.execute(
        update(agent_jobs)
        .where(_held(job_id, token))
        .values(
            status=PENDING if retry_at else status,
            reply=reply,
            error=error,
            next_attempt_at=retry_at,
            updated_at=now,
        )
    )
    return settled.rowcount == 1


def load_job(connection: Connection, job_id: UUID) -> Any | None:
    """One job row by id."""
    return connection.execute(select(agent_jobs).where(agent_jobs.c.id == job_id)).first()


def list_jobs(
    connection: Connection,
    *,
    tenant_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Any]:
    """The newest jobs first, of a tenant and a status when given."""
    query = select(agent_jobs).order_by(desc(agent_jobs.c.created_at)).limit(limit)
    if tenant_id is not None:
        query = query.where(agent_jobs.c.tenant_id == tenant_id)
    if status is not None:
        query = query.where(agent_jobs.c.status == status)
    return connection.execute(query).all()


def count_by_status(connection: Connection) -> dict[str, int]:
    """How many jobs are in each status (a gauge)."""
    query = select(agent_jobs.c.status, func.count()).group_by(agent_jobs.c.status)
    return {status: count for status, count in connection.execute(query)}
