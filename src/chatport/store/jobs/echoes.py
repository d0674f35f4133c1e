"""WAHA's echoes of what chatport sends, met in the write path before the send's answer.

WAHA often delivers its webhook echo of a sent message before `sendText` answers; the live
write path asks `adopt_echoes` about a batch's new messages from the channel: one with the
same chat and text as a message being sent becomes that message (its WAHA id, the send
`sent`), not a second row, nor a human taking over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select, update

from chatport.domain.model import Message
from chatport.store.jobs.outbound import FAILED, SENT, UNSENT, rename_message
from chatport.store.tables import outbound_messages


def adopt_echoes(
    connection: Connection, channel_id: int, echoes: Sequence[Message], now: datetime
) -> set[str]:
    """Among a live batch's new messages from the channel (`echoes`), those that are WAHA's
    echo of a message chatport is sending (same chat, same text, the send not settled): each
    becomes that message (its `external_id`, the send `sent`, the sender's token voided). The
    ids of the echoes adopted (not to be stored again)."""
    chats = sorted({message.chat_id for message in echoes if message.text})
    if not chats:
        return set()
    waiting = connection.execute(
        select(
            outbound_messages.c.message_id, outbound_messages.c.chat_id, outbound_messages.c.text
        )
        .where(
            outbound_messages.c.channel_id == channel_id,
            outbound_messages.c.chat_id.in_(chats),
            or_(
                outbound_messages.c.state.in_(UNSENT),
                and_(outbound_messages.c.state == FAILED, outbound_messages.c.sent_id.is_(None)),
            ),
        )
        .order_by(outbound_messages.c.created_at)
    ).all()
    unmatched = list(waiting)
    adopted: set[str] = set()
    for echo in echoes:
        text = (echo.text or "").strip()
        match = next(
            (row for row in unmatched if row.chat_id == echo.chat_id and row.text.strip() == text),
            None,
        )
        if match is None or not text:
            continue
        unmatched.remove(match)
        connection.execute(
            update(outbound_messages)
            .where(outbound_messages.c.message_id == match.message_id)
            .values(
                state=SENT, sent_id=echo.external_id, error=None, lease_token=None, updated_at=now
            )
        )
        rename_message(connection, match.message_id, echo.external_id)
        adopted.add(echo.external_id)
    return adopted
