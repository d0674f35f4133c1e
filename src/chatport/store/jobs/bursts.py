"""Bursts in the store: recorded by the write path, closed into agent jobs by the debouncer.

`follow_bursts` runs inside a live batch's transaction (its chats are locked): inbound messages open
or extend their chat's burst (per participant in groups whose channel lets the agent answer them), a
message from the phone marks the open burst taken over and pauses the chat's bot (`bot.py`).
`due_bursts` finds the bursts the rules (`domain.bursts`) say are due (a read) and `close_bursts`
closes each into ONE `agent_jobs` row in one write transaction; on PostgreSQL the bursts are claimed
with `FOR UPDATE SKIP LOCKED`, so several servers never close one burst twice (and `burst_id` is
unique on `agent_jobs` besides).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, Select, bindparam, func, insert, select, update

from chatport.domain.bursts import BurstRules, BurstStatus, OpenBurst, closing, due_at
from chatport.domain.events import Event
from chatport.domain.model import Channel, Message
from chatport.domain.normalise import is_group
from chatport.store.backends.bulk import BulkOps, Match
from chatport.store.jobs.agent_jobs import PENDING
from chatport.store.jobs.bot import humans_wrote, silenced
from chatport.store.jobs.wakeups import AGENT_JOBS, BURSTS, notify
from chatport.store.tables import agent_jobs, bursts, channels, messages
from chatport.store.write_path.events import insert_events
from chatport.store.write_path.message_keys import keys_of_ids


def follow_bursts(
    connection: Connection, ops: BulkOps, channel: Channel, new: Sequence[Message], now: datetime
) -> None:
    """Record a live batch's new messages in their chats' bursts (in the batch's
    transaction): inbound ones open or extend a burst, per chat, or per (chat, participant)
    in groups when the channel's agent answers groups (else groups open none), unless the
    chat's bot is off or paused; the channel's own (a human's: chatport's sends are never in
    `new`) pause the chat's bot for the handoff window and mark its open bursts taken over."""
    inbound: dict[tuple[str, str], list[Message]] = {}
    replied: dict[str, datetime] = {}
    for message in sorted(new, key=lambda m: (m.sent_at, m.external_id)):
        if message.from_me:
            replied[message.chat_id] = message.sent_at
        elif not is_group(message.chat_id):
            inbound.setdefault((message.chat_id, ""), []).append(message)
        elif channel.agent_groups:
            participant = message.author.wa_id if message.author else ""
            inbound.setdefault((message.chat_id, participant), []).append(message)
    if not inbound and not replied:
        return
    if replied:
        pause = timedelta(minutes=channel.handoff_minutes or 30)
        humans_wrote(connection, channel.id, replied, now, pause)
    quiet = silenced(connection, channel.id, {chat for chat, _ in inbound}, now)
    inbound = {key: found for key, found in inbound.items() if key[0] not in quiet}
    chat_ids = sorted({chat for chat, _ in inbound} | set(replied))
    found = ops.lookup(connection, _open_bursts, chat_ids, channel_id=channel.id)
    open_ids = {(row.chat_id, row.participant): (row.id, list(row.message_ids)) for row in found}
    opened, extended = [], []
    for key, chat_messages in inbound.items():
        ids = [m.external_id for m in chat_messages]
        if key in open_ids:
            burst_id, known = open_ids[key]
            extended.append({"b_id": burst_id, "b_ids": known + ids, "b_last": now})
        else:
            burst_id = uuid.uuid4()
            open_ids[key] = (burst_id, ids)
            opened.append(_new_burst(channel, key, burst_id, ids, now))
    if opened:
        connection.execute(insert(bursts), opened)
    if extended:
        connection.execute(
            update(bursts)
            .where(bursts.c.id == bindparam("b_id"))
            .values(message_ids=bindparam("b_ids"), last_at=bindparam("b_last")),
            extended,
        )
    taken = [
        {"b_id": burst_id, "b_at": now}
        for key, (burst_id, _) in open_ids.items()
        if key[0] in replied and not _after_reply(inbound.get(key, []), replied[key[0]])
    ]
    if taken:
        connection.execute(
            update(bursts)
            .where(bursts.c.id == bindparam("b_id"))
            .values(taken_over_at=bindparam("b_at")),
            taken,
        )
    if opened or extended or taken:
        notify(connection, BURSTS)  # debouncers recompute when the next burst is due


def take_over(connection: Connection, channel_id: int, chat_id: str, now: datetime) -> None:
    """A human answered in the chat from the CRM: its open bursts close without a job."""
    connection.execute(
        update(bursts)
        .where(
            bursts.c.channel_id == channel_id,
            bursts.c.chat_id == chat_id,
            bursts.c.status == BurstStatus.OPEN.value,
        )
        .values(taken_over_at=now)
    )
    notify(connection, BURSTS)


def typing_in_bursts(
    connection: Connection, channel_id: int, typing: Sequence[tuple[str, str]], now: datetime
) -> int:
    """Contacts are typing (`(chat, participant)` pairs, from WAHA's `presence.update`): the
    quiet window of their open bursts restarts at `now` (the max wait still caps a burst, as
    it counts from its first bubble). How many bursts were touched."""
    touched = 0
    for chat_id, participant in sorted(set(typing)):
        result = connection.execute(
            update(bursts)
            .where(
                bursts.c.channel_id == channel_id,
                bursts.c.chat_id == chat_id,
                bursts.c.participant.in_(("", participant)),
                bursts.c.status == BurstStatus.OPEN.value,
                bursts.c.last_at < now,
            )
            .values(last_at=now)
        )
        touched += result.rowcount
    if touched:
        notify(connection, BURSTS)
    return touched


def _after_reply(chat_messages: list[Message], replied_at: datetime) -> bool:
    """Whether the batch's inbound messages of the chat all came after the phone's reply
    (then they start a fresh burst that the reply did not answer)."""
    return bool(chat_messages) and chat_messages[0].sent_at > replied_at


def _new_burst(
    channel: Channel, key: tuple[str, str], burst_id: UUID, ids: list[str], now: datetime
) -> dict:
    chat_id, participant = key
    return {
        "id": burst_id,
        "tenant_id": channel.tenant_id,
        "channel_id": channel.id,
        "chat_id": chat_id,
        "participant": participant,
        "status": BurstStatus.OPEN.value,
        "message_ids": ids,
        "opened_at": now,
        "last_at": now,
    }


def _open_bursts(match: Match) -> Select:
    return select(bursts.c.id, bursts.c.chat_id, bursts.c.participant, bursts.c.message_ids).where(
        bursts.c.channel_id == bindparam("channel_id"),
        match(bursts.c.chat_id),
        bursts.c.status == BurstStatus.OPEN.value,
    )


def due_bursts(
    connection: Connection, defaults: BurstRules, now: datetime, limit: int = 500
) -> tuple[dict[UUID, BurstStatus], datetime | None]:
    """The open bursts due at `now` and how each closes (a channel's own windows override
    `defaults`), and when the next of the others is due (None: no other open burst). A read:
    call `close_bursts` in a write transaction when it finds any."""
    candidates = connection.execute(
        select(
            bursts.c.id,
            bursts.c.opened_at,
            bursts.c.last_at,
            bursts.c.taken_over_at,
            channels.c.debounce_quiet_ms,
            channels.c.debounce_max_wait_ms,
        )
        .join(channels, channels.c.id == bursts.c.channel_id)
        .where(bursts.c.status == BurstStatus.OPEN.value)
        .order_by(bursts.c.opened_at)
        .limit(limit)
    ).all()
    due: dict[UUID, BurstStatus] = {}
    later: list[datetime] = []
    for row in candidates:
        burst = OpenBurst(row.opened_at, row.last_at, row.taken_over_at is not None)
        rules = BurstRules.of(row.debounce_quiet_ms, row.debounce_max_wait_ms, defaults)
        status = closing(burst, rules, now)
        if status is None:
            later.append(due_at(burst, rules))
        else:
            due[row.id] = status
    return due, min(later, default=None)


def close_bursts(
    connection: Connection, ops: BulkOps, due: dict[UUID, BurstStatus], now: datetime
) -> list[tuple[UUID, float]]:
    """Close the `due` bursts still open (each into one pending agent job, or without one
    when taken over), skipping those another transaction holds; the new jobs' ids, each with
    the seconds from its burst's last bubble to the job. A handful of statements whatever the
    number of bursts (a round closes them all at once)."""
    if not due:
        return []
    claimed = connection.execute(
        select(bursts)
        .where(bursts.c.id.in_(list(due)), bursts.c.status == BurstStatus.OPEN.value)
        .with_for_update(skip_locked=True)
    ).all()
    by_status: dict[BurstStatus, list[UUID]] = {}
    for burst in claimed:
        by_status.setdefault(due[burst.id], []).append(burst.id)
    for status, ids in by_status.items():
        connection.execute(
            update(bursts).where(bursts.c.id.in_(ids)).values(status=status, closed_at=now)
        )
    closed = [burst for burst in claimed if due[burst.id] is BurstStatus.CLOSED]
    if not closed:
        return []
    jobs = _jobs_of(connection, ops, closed, now)
    notify(connection, AGENT_JOBS)
    return [(job_id, (now - burst.last_at).total_seconds()) for job_id, burst in jobs]


def _jobs_of(connection: Connection, ops: BulkOps, closed: list, now: datetime) -> list:
    """The pending agent jobs of closed bursts (each burst's last message gives session and
    contact), with their `agent_job.created` events: `[(job id, burst), …]`."""
    wanted: dict[tuple[int, str], UUID] = {}  # (channel, key of its last message) -> burst
    for burst in closed:
        keys = keys_of_ids(connection, burst.channel_id, burst.message_ids[-1:])
        for key in keys:
            wanted[(burst.channel_id, key)] = burst.id
    last: dict[UUID, tuple] = {}
    if wanted:
        rows = connection.execute(
            select(
                messages.c.channel_id,
                messages.c.message_key,
                messages.c.session_id,
                messages.c.contact_id,
            )
            .where(
                messages.c.channel_id.in_(sorted({channel for channel, _ in wanted})),
                messages.c.message_key.in_(sorted({key for _, key in wanted})),
            )
            .order_by(messages.c.id)
        )
        for row in rows:
            burst_id = wanted.get((row.channel_id, row.message_key))
            if burst_id is not None:
                last.setdefault(burst_id, (row.session_id, row.contact_id))
    jobs, rows_of_jobs = [], []
    events_of: dict[tuple[int, int], list[Event]] = {}
    for burst in closed:
        job_id = uuid.uuid4()
        session_id, contact_id = last.get(burst.id, (None, None))
        rows_of_jobs.append(
            {
                "id": job_id,
                "tenant_id": burst.tenant_id,
                "channel_id": burst.channel_id,
                "chat_id": burst.chat_id,
                "contact_id": contact_id,
                "session_id": session_id,
                "message_ids": list(burst.message_ids),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "burst_id": burst.id,
                "participant": burst.participant or None,
                "created_at": now,
                "updated_at": now,
            }
        )
        event = Event(
            "agent_job.created",
            "agent_job",
            str(job_id),
            {
                "chat_id": burst.chat_id,
                "participant": burst.participant or None,
                "message_ids": list(burst.message_ids),
            },
        )
        events_of.setdefault((burst.channel_id, burst.tenant_id), []).append(event)
        jobs.append((job_id, burst))
    connection.execute(insert(agent_jobs), rows_of_jobs)
    for (channel_id, tenant_id), events in events_of.items():
        insert_events(connection, ops, Channel(channel_id, tenant_id, "", ""), events, now)
    return jobs


def open_count(connection: Connection) -> int:
    """How many bursts are open (a gauge)."""
    return connection.execute(
        select(func.count()).select_from(bursts).where(bursts.c.status == BurstStatus.OPEN.value)
    ).scalar_one()
