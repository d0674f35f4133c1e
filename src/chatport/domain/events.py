"""Outbox events a batch emits, written in the same transaction as the batch. Pure.

- `history.imported`: one per committed history batch (import or export origin), with its
  counters (sessions created, extended, merged included), chats and time range.
- `message.received`: one per new live inbound message (history is quiet).
- `session.opened`: one per session a live batch creates (a history batch's new sessions are
  old conversations, counted in its `history.imported`).
- `session.merged`: one per session absorbed by a merge, from any batch: whoever kept the
  absorbed session's id learns where its messages went.
- `chat.merged`: a chat first stored under a contact's LID joined that contact's phone chat
  (its messages and sessions now carry the phone chat id; `duplicates` messages were stored
  under both, and are one row each now).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatport.domain.model import BatchResult, Message, Origin
from chatport.domain.sessions import ChatSessionPlan


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox row: what happened, to which aggregate, with a JSON payload."""

    type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]


def batch_events(
    channel_id: int,
    origin: Origin,
    new_messages: Sequence[Message],
    plans: Mapping[str, ChatSessionPlan],
    result: BatchResult,
) -> list[Event]:
    """The events of one written batch, in a stable order."""
    events: list[Event] = []
    for chat_id, plan in plans.items():
        for span in [] if origin.is_history else plan.created:
            events.append(
                Event(
                    "session.opened",
                    "session",
                    str(span.id),
                    {"chat_id": chat_id, "started_at": _iso(span.started_at)},
                )
            )
        events.extend(_session_merges(chat_id, plan))
    if origin.is_history:
        if new_messages or result.duplicates or result.invalid:
            events.append(_history_imported(channel_id, origin, new_messages, result))
        return events
    for message in new_messages:
        if message.from_me:
            continue
        events.append(
            Event(
                "message.received",
                "message",
                message.external_id,
                {
                    "chat_id": message.chat_id,
                    "session_id": str(plans[message.chat_id].assignments[message.external_id]),
                    "from": message.author.wa_id if message.author else None,
                    "sent_at": _iso(message.sent_at),
                    "content_type": message.content_type,
                    "text": message.text,
                },
            )
        )
    return events


def chat_joined_events(
    absorbed_chat: str, chat_id: str, plan: ChatSessionPlan, duplicates: int = 0
) -> list[Event]:
    """The events of a chat stored under a LID joining its phone chat: `chat.merged` (with
    the number of messages both chats held, now one row each), then a `session.merged` per
    session absorbed on the way."""
    payload = {"chat_id": chat_id, "absorbed": absorbed_chat, "duplicates": duplicates}
    joined = Event("chat.merged", "chat", chat_id, payload)
    return [joined, *_session_merges(chat_id, plan)]


def _session_merges(chat_id: str, plan: ChatSessionPlan) -> list[Event]:
    return [
        Event(
            "session.merged",
            "session",
            str(survivor),
            {"chat_id": chat_id, "absorbed": str(absorbed), "survivor": str(survivor)},
        )
        for absorbed, survivor in plan.merged
    ]


def _history_imported(
    channel_id: int, origin: Origin, new_messages: Sequence[Message], result: BatchResult
) -> Event:
    chats = sorted({m.chat_id for m in new_messages})
    times = [m.sent_at for m in new_messages]
    return Event(
        "history.imported",
        "channel",
        str(channel_id),
        {
            "origin": str(origin),
            "counts": result.as_dict(),
            "chats": chats,
            "since": _iso(min(times)) if times else None,
            "until": _iso(max(times)) if times else None,
        },
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()
