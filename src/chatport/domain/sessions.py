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
from hashlib import sha1
from operator import attrgetter
from uuid import UUID

from chatport.domain.model import Message, SessionSpan

SESSION_NAMESPACE = UUID("6f1d2c1e-3b7a-4f0e-9a43-2f5c8e9b1a70")


_NAMESPACE_BYTES = SESSION_NAMESPACE.bytes
_VERSION_BITS = (0xF000 << 64) | (0xC000 << 48)
_VERSION_5 = (0x5000 << 64) | (0x8000 << 48)


def session_id_for(channel_key: str, first_external_id: str) -> UUID:
    """The id of a session opened by `first_external_id` on a channel (deterministic): the
    `uuid5` of that name in SESSION_NAMESPACE, computed without `uuid5`'s second validation
    of the bytes (half its cost; an import derives one per session)."""
    name = f"{channel_key}\x1f{first_external_id}".encode()
    value = int.from_bytes(sha1(_NAMESPACE_BYTES + name).digest()[:16])
    return UUID(int=(value & ~_VERSION_BITS) | _VERSION_5)


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


def neighbour_window(sent_ats: Iterable[datetime], timeout: timedelta) -> tuple[datetime, datetime]:
    """The span in which stored sessions can be touched by messages at `sent_ats`.

    A stored session matters when last_activity_at >= low and started_at <= high.
    """
    times = list(sent_ats)
    return min(times) - timeout, max(times) + timeout


@dataclass(slots=True)
class ChatSessionPlan:
    """What to write for one chat. `assignments` maps each new message to its session, which
    is one of `created` or `extended`."""

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
    ordered = sorted(new_messages, key=_message_order)
    spans = sorted(stored, key=lambda s: (s.started_at, s.last_activity_at, str(s.id)))
    sweep = _Sweep(timeout, channel_key)
    next_span = 0
    for message in ordered:
        while next_span < len(spans) and spans[next_span].started_at <= message.sent_at:
            span = spans[next_span]
            sweep.add(span.started_at, span.last_activity_at, span)
            next_span += 1
        sweep.add(message.sent_at, message.sent_at, message)
    for span in spans[next_span:]:
        sweep.add(span.started_at, span.last_activity_at, span)
    sweep.close()
    return sweep.plan


def join_sessions(spans: Sequence[SessionSpan], timeout: timedelta) -> ChatSessionPlan:
    """Plan the sessions of two chats that become one chat (a LID chat joining its phone
    chat): stored sessions closer than `timeout` (or overlapping) join the one that started
    first, which equals the one-shot partition of all their messages. `spans` must hold every
    session of the joined chat near the joining chat's sessions."""
    plan = ChatSessionPlan()
    group: list[SessionSpan] = []
    end: datetime | None = None
    for span in sorted(spans, key=lambda s: (s.started_at, s.last_activity_at, str(s.id))):
        if end is not None and span.started_at - end > timeout:
            _join(group, plan)
            group, end = [], None
        group.append(span)
        end = span.last_activity_at if end is None else max(end, span.last_activity_at)
    _join(group, plan)
    return plan


def _join(spans: list[SessionSpan], plan: ChatSessionPlan) -> None:
    if len(spans) < 2:
        return
    survivor = min(spans, key=lambda s: (s.started_at, str(s.id)))
    plan.extended.append(
        SessionSpan(
            survivor.id,
            min(s.started_at for s in spans),
            max(s.last_activity_at for s in spans),
            sum(s.message_count for s in spans),
        )
    )
    plan.merged.extend((span.id, survivor.id) for span in spans if span is not survivor)


class _Sweep:
    """Stored spans and new messages, fed in order of start time, grouped by the gap rule."""

    def __init__(self, timeout: timedelta, channel_key: str) -> None:
        self.plan = ChatSessionPlan()
        self._timeout = timeout
        self._channel_key = channel_key
        self._spans: list[SessionSpan] = []
        self._messages: list[Message] = []
        self._end: datetime | None = None

    def add(self, start: datetime, end: datetime, item: SessionSpan | Message) -> None:
        """Add the next item; a gap > timeout since the group's end closes the group first."""
        if self._end is not None and start - self._end > self._timeout:
            self.close()
        if type(item) is SessionSpan:
            self._spans.append(item)
        else:
            self._messages.append(item)
        if self._end is None or end > self._end:
            self._end = end

    def close(self) -> None:
        """Plan the current group and start an empty one."""
        _plan_group(self._spans, self._messages, self.plan, self._channel_key)
        self._spans, self._messages, self._end = [], [], None


_message_order = attrgetter("sent_at", "external_id")


def _plan_group(
    spans: list[SessionSpan], messages: list[Message], plan: ChatSessionPlan, channel_key: str
) -> None:
    """Plan one group; `messages` are in session order."""
    if not messages:
        return
    started_at = messages[0].sent_at
    last_activity_at = messages[-1].sent_at
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
        session_id = session_id_for(channel_key, messages[0].external_id)
        plan.created.append(SessionSpan(session_id, started_at, last_activity_at, count))
    assignments = plan.assignments
    for message in messages:
        assignments[message.external_id] = session_id
