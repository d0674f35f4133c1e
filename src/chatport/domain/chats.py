"""How a batch moves a chat's preview and unread count. Pure.

- The preview (last message time, text, sender) only moves forward, by (sent_at, external_id).
- History (import, export) never changes the unread count.
- A live inbound message raises it by one. An outbound live or agent message newer than
  everything before it clears it (the conversation was answered); inbound messages after that
  count again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from chatport.domain.model import Message, Origin

ME = "me"
_message_order = attrgetter("sent_at", "external_id")


@dataclass(frozen=True, slots=True)
class ChatState:
    """The stored preview and unread count of a chat."""

    last_message_at: datetime | None
    last_message_id: str | None
    last_message_text: str | None
    last_sender: str | None
    unread_count: int


@dataclass(frozen=True, slots=True)
class ChatPreview:
    """The new preview and unread count of a chat after a batch."""

    last_message_at: datetime | None
    last_message_id: str | None
    last_message_text: str | None
    last_sender: str | None
    unread_count: int
    moved: bool


PREVIEW_CHARS = 500
"""The most of a message's text a chat's preview keeps."""


def preview_text(message: Message) -> str:
    """The one-line text a chat list shows for a message."""
    if message.text:
        return message.text[:PREVIEW_CHARS]
    return f"[{message.content_type}]"


def sender_of(message: Message) -> str | None:
    """`me` for the channel's own messages, else the author's wa_id."""
    if message.from_me:
        return ME
    return message.author.wa_id if message.author else None


def advance_chat(state: ChatState, new_messages: Sequence[Message], origin: Origin) -> ChatPreview:
    """Apply the rules above to one chat; `new_messages` are the batch's stored-new ones."""
    ordered = sorted(new_messages, key=_message_order)
    live = not origin.is_history
    last_key = (
        (state.last_message_at, state.last_message_id or "")
        if state.last_message_at is not None
        else None
    )
    unread = state.unread_count
    newest: Message | None = None
    for message in ordered:
        key = (message.sent_at, message.external_id)
        advances = last_key is None or key > last_key
        if live:
            if not message.from_me:
                unread += 1
            elif advances:
                unread = 0
        if advances:
            newest = message
            last_key = key
    if newest is None:
        return ChatPreview(
            state.last_message_at,
            state.last_message_id,
            state.last_message_text,
            state.last_sender,
            unread,
            moved=False,
        )
    return ChatPreview(
        last_message_at=newest.sent_at,
        last_message_id=newest.external_id,
        last_message_text=preview_text(newest),
        last_sender=sender_of(newest),
        unread_count=unread,
        moved=True,
    )
