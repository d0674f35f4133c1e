"""Changes to a stored message that live events carry: delivery status, revoked, edited."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MessageChange:
    """A change to a stored message: found by `message_id` (its full WAHA id) when known,
    else by its plain WhatsApp id `wa_id` in chat `chat_id`."""

    kind: str  # "ack" | "revoked" | "edited"
    chat_id: str | None
    message_id: str | None = None
    wa_id: str | None = None
    ack: int | None = None
    text: str | None = None
    at: int | float | None = None
