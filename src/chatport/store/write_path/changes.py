"""Changes to stored messages from live events: delivery status (ack), revoked, edited.

Each is idempotent: an ack only moves forward, a revoke keeps its first time, an edit to the
text the message already has changes nothing. The original is never lost: a revoked message
keeps its text, an edited one keeps its earlier texts in `edits`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, case, or_, select, update

from chatport.domain.changes import MessageChange
from chatport.domain.chats import PREVIEW_CHARS
from chatport.domain.keys import message_key
from chatport.domain.normalise import InvalidValue, normalise_jid, normalise_timestamp
from chatport.store.tables import chats, lid_mappings, messages
from chatport.store.write_path.message_keys import keys_of_ids


def apply_change(connection: Connection, channel_id: int, change: MessageChange) -> bool:
    """Apply `change` in the caller's transaction; False when its message is not stored."""
    row = _find(connection, channel_id, change)
    if row is None:
        return False
    at = _time(change.at)
    where = messages.c.id == row.id
    if change.kind == "ack":
        newer = or_(messages.c.ack.is_(None), messages.c.ack < change.ack)
        ack = case((newer, change.ack), else_=messages.c.ack)
        connection.execute(update(messages).where(where).values(ack=ack))
    elif change.kind == "revoked":
        if row.revoked_at is None:
            connection.execute(update(messages).where(where).values(revoked_at=at))
    elif change.text is not None and change.text != row.text:
        edits = [*(row.edits or []), {"text": row.text, "replaced_at": at.isoformat()}]
        connection.execute(
            update(messages).where(where).values(text=change.text, edited_at=at, edits=edits)
        )
        connection.execute(
            update(chats)
            .where(
                chats.c.channel_id == channel_id,
                chats.c.chat_id == row.chat_id,
                chats.c.last_message_id == row.external_id,
            )
            .values(last_message_text=change.text[:PREVIEW_CHARS])
        )
    return True


def _find(connection: Connection, channel_id: int, change: MessageChange) -> Any:
    """The message by its key, whatever alias the change names its chat by: from its WAHA
    id, else from its chat and plain WhatsApp id (either side: the change does not say)."""
    keys = list(
        keys_of_ids(connection, channel_id, [change.message_id] if change.message_id else [])
    )
    if change.chat_id and change.wa_id:
        chat = _canonical(connection, channel_id, change.chat_id)
        keys += [message_key(side, chat, "", change.wa_id) for side in (False, True)]
    if not keys:
        return None
    query = (
        select(
            messages.c.id,
            messages.c.external_id,
            messages.c.chat_id,
            messages.c.text,
            messages.c.edits,
            messages.c.revoked_at,
        )
        .where(messages.c.channel_id == channel_id, messages.c.message_key.in_(keys))
        .order_by(messages.c.id)
        .limit(1)
    )
    return connection.execute(query).first()


def _canonical(connection: Connection, channel_id: int, chat: str) -> str:
    """The chat as keys name it: normalised, a LID's phone chat when its pair is stored."""
    try:
        chat = normalise_jid(chat)
    except InvalidValue:
        return chat
    if not chat.endswith("@lid"):
        return chat
    phone = connection.execute(
        select(lid_mappings.c.wa_id).where(
            lid_mappings.c.channel_id == channel_id, lid_mappings.c.lid == chat
        )
    ).scalar()
    return phone or chat


def _time(value: Any) -> datetime:
    """When the change happened (now when the payload does not say)."""
    try:
        return normalise_timestamp(value)
    except InvalidValue:
        return datetime.now(UTC)
