"""A human's message from the CRM (`POST /v1/.../messages`, the console's composer): history at
once, sent through the channel's WAHA by the deliverer, and the chat's bot paused.

The message is stored as an outbound message of the chat (origin `human`, from_me, id
`chatport-human-<uuid>`) through the one write path, with its `outbound_messages` row (pending:
the same send states as an agent's reply) in the same transaction, and the chat's bot paused
for the handoff window (a human is on it). The deliverer sends it (wake it), within the
channel's send rate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chatport.domain.model import IncomingMessage, Origin
from chatport.store.channels import channel_by_id
from chatport.store.database import Database
from chatport.store.jobs import outbound
from chatport.store.jobs.bot import humans_wrote
from chatport.store.jobs.bursts import take_over


class NoWahaToSend(Exception):
    """The channel has no WAHA URL: chatport cannot send its messages."""


@dataclass(frozen=True)
class Written:
    """A human's message stored: its id (`messages.external_id`) and row id."""

    id: str
    row_id: int


def write_as_human(
    database: Database,
    channel_id: int,
    chat_id: str,
    text: str,
    *,
    author: str | None,
    handoff: timedelta,
    has_waha: bool,
) -> Written:
    """Store `text` as the channel's message in the chat, to be sent (see the module); the
    chat's bot pauses for `handoff` (or the channel's own window). NoWahaToSend when the channel
    cannot send (`has_waha` false): nothing is stored."""
    if not has_waha:
        raise NoWahaToSend("the channel has no WAHA to send through (give it a waha_url)")
    now = datetime.now(UTC)
    external_id = f"chatport-human-{uuid.uuid4()}"
    message = IncomingMessage(
        external_id=external_id,
        chat_id=chat_id,
        sent_at=now,
        from_me=True,
        text=text,
        raw={"author": author, "text": text},
    )
    with database.engine.connect() as connection:
        channel = channel_by_id(connection, channel_id, database.default_timeout)
    for uow in database.transactions():
        with uow:
            uow.write_batch(channel, [message], origin=Origin.HUMAN, now=now)
            row_id = outbound.message_row_id(uow.connection, channel.id, external_id)
            outbound.add_outbound(
                uow.connection,
                message_id=row_id,
                tenant_id=channel.tenant_id,
                channel_id=channel.id,
                chat_id=chat_id,
                origin=str(Origin.HUMAN),
                text=text,
                now=now,
                author=author,
            )
            own = channel.handoff_minutes
            pause = timedelta(minutes=own) if own else handoff
            humans_wrote(uow.connection, channel.id, {chat_id: now}, now, pause)
            take_over(uow.connection, channel.id, chat_id, now)
            uow.commit()
    return Written(external_id, row_id)
