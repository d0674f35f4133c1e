"""Chats as WAHA lists them (`/chats/overview`, or `/chats` on an older WAHA): their id, name
and last activity, whatever the engine's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["WahaChat", "activity_of", "chat_of"]


@dataclass(frozen=True, slots=True)
class WahaChat:
    """A chat from the overview: its id, name and newest message time (epoch seconds)."""

    id: str
    name: str | None
    last_timestamp: int | None


def chat_of(item: dict[str, Any]) -> WahaChat:
    """A chat from `/chats/overview` or, engine-specific, from `/chats` (WEBJS ids are objects)."""
    chat_id = item["id"]
    if isinstance(chat_id, dict):
        chat_id = chat_id.get("_serialized")
    last = item.get("lastMessage") or {}  # null for a chat with nothing displayable
    raw_chat = item.get("_chat") or {}
    stamp = (
        last.get("timestamp")
        or item.get("conversationTimestamp")
        or raw_chat.get("conversationTimestamp")
        or item.get("timestamp")
    )
    return WahaChat(chat_id, item.get("name"), stamp)


def activity_of(item: dict[str, Any]) -> float:
    """A listed chat's last activity (epoch seconds; milliseconds read as such), the newest
    of the times its engine gives; infinite when it gives none (it is kept)."""
    last = item.get("lastMessage") or {}
    raw_chat = item.get("_chat") or {}
    stamps = [
        stamp if stamp < 100_000_000_000 else stamp / 1000
        for stamp in (
            last.get("timestamp") if isinstance(last, dict) else None,
            item.get("conversationTimestamp"),
            raw_chat.get("conversationTimestamp") if isinstance(raw_chat, dict) else None,
            raw_chat.get("t") if isinstance(raw_chat, dict) else None,
            item.get("timestamp"),
        )
        if isinstance(stamp, int | float) and not isinstance(stamp, bool)
    ]
    return max(stamps) if stamps else float("inf")
