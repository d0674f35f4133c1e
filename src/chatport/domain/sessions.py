"""The session rule: one conversation episode per run of messages with small gaps.

Messages of a chat, sorted by (sent_at, external_id), belong to one session while each gap to
the previous message is <= the timeout; a gap > timeout starts a new session.

`partition` is the one-shot definition. `plan_chat_sessions` applies the same rule
incrementally: given the chat's stored sessions near the new messages and the new messages
themselves, it says which sessions to create, extend and merge so that the stored state equals
the one-shot partition of everything seen so far, whatever the arrival order or batching.
Session ids are derived from the first message that opened them, so the same arrival order
always yields the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from chatport.domain.model import Message, SessionSpan

SESSION_NAMESPACE = UUID("6f1d2c1e-3b7a-4f0e-9a43-2f5c8e9b1a70")


def session_id_for(channel_key: str, first_external_id: str) -> UUID:
    """The id of a session opened by `first_external_id` on a channel (deterministic)."""
    return uuid5(SESSION_NAMESPACE, f"{channel_key}\x1f{first_external_id}")


def partition(messages: Iterable[Message], timeout: timedelta) -> list[list[Message]]:
    """One-shot reference: split one chat's messages into sessions by the gap rule."""
    ordered = sorted(messages, key=lambda m: m.sort_key)
    sessions: list[list[Message]] = []
    for message in ordered:
        if sessions and message.sent_at - sessions[-1][-1].sent_at <= timeout:
            sessions[-1].append(message)
        else:
            sessions.append([message])
    return sessions


def neighbour_window(
    sent_ats: Iterable[datetime], timeout: timedelta
) -> tuple[datetime, datetime]:
    """The span in which stored sessions can be touched by messages at `sent_ats`.

    A stored session matters when last_activity_at >= low and started_at <= high.
    """
    times = list(sent_ats)
    return min(times) - timeout, max(times) + timeout


@dataclass(slots=True)
class ChatSessionPlan:
    """What to write for one chat. `assignments` maps each new message to its session."""

    assignments: dict[str, UUID] = field(default_factory=dict)
    created: list[SessionSpan] = field(default_factory=list)
    extended: list[SessionSpan] = field(default_factory=list)
    merged: list[tuple[UUID, UUID]] = field(default_factory=list)
    """(absorbed, survivor) pairs: the absorbed row goes, its messages move to the survivor."""


def plan_chat_sessions(
    stored: Sequence[SessionSpan],
    new_messages: Sequence[Message],
    timeout: timedelta,
    channel_key: str,
) -> ChatSessionPlan:
    """Plan the session writes for one chat.

    `stored` must hold every stored session of the chat that overlaps `neighbour_window` of
    the new messages (more is harmless); `new_messages` must not be stored yet and must have
    distinct external ids. When new messages bridge stored sessions, they merge into the one
    that started first (ties broken by id). A group of stored sessions that no new message
    touches is left alone.
    """
    blocks: list[tuple[datetime, datetime, int, SessionSpan | Message]] = []
    for span in stored:
        blocks.append((span.started_at, span.last_activity_at, 0, span))
    for message in new_messages:
        blocks.append((message.sent_at, message.sent_at, 1, message))
    blocks.sort(key=_block_order)

    plan = ChatSessionPlan()
    group: list[SessionSpan | Message] = []
    group_end: datetime | None = None
    for start, end, _, item in blocks:
        if group_end is not None and start - group_end > timeout:
            _plan_group(group, plan, channel_key)
            group = []
            group_end = None
        group.append(item)
        group_end = end if group_end is None else max(group_end, end)
    if group:
        _plan_group(group, plan, channel_key)
    return plan


def _block_order(block: tuple[datetime, datetime, int, SessionSpan | Message]) -> tuple:
    start, end, kind, item = block
    tie = str(item.id) if isinstance(item, SessionSpan) else item.external_id
    return (start, end, kind, tie)


def _plan_group(
    group: list[SessionSpan | Message], plan: ChatSessionPlan, channel_key: str
) -> None:
    spans = [item for item in group if isinstance(item, SessionSpan)]
    messages = [item for item in group if isinstance(item, Message)]
    if not messages:
        return
    started_at = min(m.sent_at for m in messages)
    last_activity_at = max(m.sent_at for m in messages)
    count = len(messages)
    for span in spans:
        started_at = min(started_at, span.started_at)
        last_activity_at = max(last_activity_at, span.last_activity_at)
        count += span.message_count
    if spans:
        survivor = min(spans, key=lambda s: (s.started_at, str(s.id)))
        session_id = survivor.id
        plan.extended.append(SessionSpan(session_id, started_at, last_activity_at, count))
        plan.merged.extend((span.id, session_id) for span in spans if span is not survivor)
    else:
        first = min(messages, key=lambda m: m.sort_key)
        session_id = session_id_for(channel_key, first.external_id)
        plan.created.append(SessionSpan(session_id, started_at, last_activity_at, count))
    for message in messages:
        plan.assignments[message.external_id] = session_id
