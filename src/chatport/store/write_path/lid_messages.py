"""A LID chat's messages take their keys in the phone chat (`domain.keys`) when the chat joins
it; a message stored under both aliases (seen through WAHA as `…@lid_…` and through Baileys as
`…@c.us_…` before the pair was known) becomes ONE row.

The older row (the lower id: the first stored, as the insert keeps the first) stays, with the
higher delivery status, the first revoke and the edits of either; the other goes, and the
sessions that lost a message have their span and count read again from the messages left (a
session left empty goes), so that the session rule then joins the chats' sessions exactly. A
few statements per joined chat, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, exists, func, or_, select, update

from chatport.domain.keys import key_prefixes, rekey
from chatport.domain.model import Channel
from chatport.store.backends.bulk import BulkOps, Match
from chatport.store.tables import messages, sessions

_STATE = (
    messages.c.id,
    messages.c.message_key,
    messages.c.external_id,
    messages.c.session_id,
    messages.c.ack,
    messages.c.revoked_at,
    messages.c.edited_at,
    messages.c.text,
    messages.c.edits,
)


@dataclass(slots=True)
class Rekeyed:
    """What rekeying a chat's messages did."""

    merged: dict[str, str] = field(default_factory=dict)
    """external_id of each row that went -> that of the row kept for the same message."""


def rekey_chat(
    connection: Connection, ops: BulkOps, channel: Channel, lid: str, phone: str
) -> Rekeyed:
    """Give the messages of chat `lid` their keys in chat `phone` (before they move there),
    merging those the channel already holds under the new key; see the module."""
    done = Rekeyed()
    prefixes = key_prefixes(lid)
    rows = connection.execute(
        select(*_STATE).where(
            messages.c.channel_id == channel.id,
            messages.c.chat_id == lid,
            or_(*(messages.c.message_key.startswith(p, autoescape=True) for p in prefixes)),
        )
    ).all()
    if not rows:
        return done
    wanted = {row.id: rekey(row.message_key, lid, phone) for row in rows}
    holders = {
        row.message_key: row
        for row in ops.lookup(connection, _holding, list(wanted.values()), channel_id=channel.id)
    }
    gone: list[Any] = []
    states: list[dict[str, Any]] = []
    keys: list[tuple] = []
    for row in rows:
        key = wanted[row.id]
        holder = holders.get(key)
        if holder is None:
            keys.append((key, row.id))
            continue
        kept, other = (holder, row) if holder.id < row.id else (row, holder)
        gone.append(other)
        done.merged[other.external_id] = kept.external_id
        states.append(_merged_state(kept, other))
        if kept is row:
            keys.append((key, row.id))
    if gone:
        by_id = messages.c.id == bindparam("m_id")
        connection.execute(delete(messages).where(by_id), [{"m_id": row.id} for row in gone])
        connection.execute(
            update(messages)
            .where(by_id)
            .values(ack=bindparam("m_ack"), revoked_at=bindparam("m_revoked_at")),
            states,
        )
        edits = [state for state in states if state["m_edits"] is not None]
        if edits:  # (a JSON None would be stored as `null`, not NULL)
            connection.execute(
                update(messages)
                .where(by_id)
                .values(
                    edited_at=bindparam("m_edited_at"),
                    text=bindparam("m_text"),
                    edits=bindparam("m_edits"),
                ),
                edits,
            )
        respan(connection, {row.session_id for row in gone})
    ops.update_rows(connection, messages, ("message_key",), "id", keys)
    return done


def _holding(match: Match) -> Select:
    return select(*_STATE).where(
        messages.c.channel_id == bindparam("channel_id"), match(messages.c.message_key)
    )


def _merged_state(kept: Any, other: Any) -> dict[str, Any]:
    """The kept row's states, with the other's where they say more: the higher ack, the
    first revoke, and its edits when only the other was edited."""
    acks = [ack for ack in (kept.ack, other.ack) if ack is not None]
    revokes = [at for at in (kept.revoked_at, other.revoked_at) if at is not None]
    edited = other if kept.edited_at is None and other.edited_at is not None else kept
    return {
        "m_id": kept.id,
        "m_ack": max(acks, default=None),
        "m_revoked_at": min(revokes, default=None),
        "m_edited_at": edited.edited_at,
        "m_text": edited.text,
        "m_edits": edited.edits,
    }


def respan(connection: Connection, session_ids: Iterable[Any]) -> None:
    """Read the sessions' spans and counts again from their messages; delete those left
    without one."""
    params = [{"s_id": session_id} for session_id in session_ids]
    if not params:
        return
    mine = messages.c.session_id == sessions.c.id
    this = sessions.c.id == bindparam("s_id")
    connection.execute(delete(sessions).where(this, ~exists().where(mine)), params)
    connection.execute(
        update(sessions)
        .where(this)
        .values(
            started_at=select(func.min(messages.c.sent_at)).where(mine).scalar_subquery(),
            last_activity_at=select(func.max(messages.c.sent_at)).where(mine).scalar_subquery(),
            message_count=select(func.count()).where(mine).scalar_subquery(),
        ),
        params,
    )
