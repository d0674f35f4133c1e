"""Each chat's bot: its switch, the handoff pause a human's reply starts, and when a human
last wrote (`chats.bot`, `bot_paused_until`, `last_human_at`).

A chat's bot is `on` (the default), `off` (no agent job until switched on) or `paused` until a
time: a human's reply as the channel (from the phone, or from the CRM) pauses it for the
handoff window (`CHATPORT_HANDOFF_MINUTES`, or the channel's own), so the bot does not talk
over the human. While it is off or paused, the chat's inbound messages open no burst, and a job
already made is skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, or_, select, update

from chatport.store.column_types import UtcDateTime
from chatport.store.tables import chats

ON, OFF, PAUSED = "on", "off", "paused"
MODES = (ON, OFF, PAUSED)


@dataclass(frozen=True)
class BotState:
    """A chat's bot as of a moment: `mode` (`on`, `off`, `paused`), until when it is paused,
    and when a human last wrote in the chat as the channel."""

    mode: str
    paused_until: datetime | None
    last_human_at: datetime | None

    @property
    def answers(self) -> bool:
        return self.mode == ON


def state_of(row: Any, now: datetime) -> BotState:
    """The bot of a chat row (with `bot`, `bot_paused_until`, `last_human_at`) at `now`."""
    if row.bot == OFF:
        return BotState(OFF, None, row.last_human_at)
    paused = row.bot_paused_until
    if paused is not None and paused > now:
        return BotState(PAUSED, paused, row.last_human_at)
    return BotState(ON, None, row.last_human_at)


def bot_state(connection: Connection, channel_id: int, chat_id: str, now: datetime) -> BotState:
    """The chat's bot at `now` (on, for a chat not stored)."""
    row = connection.execute(
        select(chats.c.bot, chats.c.bot_paused_until, chats.c.last_human_at).where(
            chats.c.channel_id == channel_id, chats.c.chat_id == chat_id
        )
    ).first()
    return state_of(row, now) if row is not None else BotState(ON, None, None)


def silenced(
    connection: Connection, channel_id: int, chat_ids: Collection[str], now: datetime
) -> set[str]:
    """Those of `chat_ids` whose bot is off or paused at `now`."""
    if not chat_ids:
        return set()
    rows = connection.execute(
        select(chats.c.chat_id).where(
            chats.c.channel_id == channel_id,
            chats.c.chat_id.in_(sorted(chat_ids)),
            or_(chats.c.bot == OFF, chats.c.bot_paused_until > now),
        )
    )
    return set(rows.scalars())


def humans_wrote(
    connection: Connection,
    channel_id: int,
    written: Mapping[str, datetime],
    now: datetime,
    pause: timedelta,
) -> None:
    """A human wrote as the channel in these chats (chat id -> when): the bot of each pauses
    until `now + pause` (a later pause, or `off`, stays), and `last_human_at` moves on."""
    if not written:
        return
    until = now + pause
    new_until = bindparam("h_until", type_=UtcDateTime)
    later = case((chats.c.bot_paused_until > new_until, chats.c.bot_paused_until), else_=new_until)
    connection.execute(
        update(chats)
        .where(chats.c.channel_id == channel_id, chats.c.chat_id == bindparam("h_chat"))
        .values(last_human_at=bindparam("h_at", type_=UtcDateTime), bot_paused_until=later),
        [{"h_chat": chat, "h_at": at, "h_until": until} for chat, at in written.items()],
    )


def set_bot(
    connection: Connection,
    channel_id: int,
    chat_id: str,
    mode: str,
    until: datetime | None = None,
) -> bool:
    """Switch the chat's bot `on`, `off`, or `paused` until `until`; False for no such chat."""
    values: dict[str, Any] = {"bot": OFF if mode == OFF else None, "bot_paused_until": None}
    if mode == PAUSED:
        values["bot_paused_until"] = until
    done = connection.execute(
        update(chats)
        .where(chats.c.channel_id == channel_id, chats.c.chat_id == chat_id)
        .values(**values)
    )
    return done.rowcount == 1
