"""Small builders for test messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chatport.domain.model import ContactRef, IncomingMessage

BASE = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> int:
    """Epoch seconds `minutes` after BASE."""
    return int((BASE + timedelta(minutes=minutes)).timestamp())


def incoming(
    external_id: str | None,
    minutes: float = 0,
    chat: str = "5511999990001@c.us",
    *,
    from_me: bool = False,
    author: ContactRef | None = None,
    text: str | None = "hello",
    sent_at: Any = None,
    raw: Any = None,
    chat_name: str | None = None,
) -> IncomingMessage:
    return IncomingMessage(
        external_id=external_id,
        chat_id=chat,
        sent_at=at(minutes) if sent_at is None else sent_at,
        from_me=from_me,
        author=author,
        text=text,
        chat_name=chat_name,
        raw={"id": external_id, "body": text} if raw is None else raw,
    )
