"""The session rule: incremental planning equals the one-shot partition, whatever the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid5

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chatport.domain.model import Message, SessionSpan
from chatport.domain.sessions import (
    SESSION_NAMESPACE,
    join_sessions,
    neighbour_window,
    partition,
    plan_chat_sessions,
    session_id_for,
)

TIMEOUT = timedelta(minutes=30)
BASE = datetime(2024, 1, 1, tzinfo=UTC)
CHANNEL = "1"


def message(external_id: str, minute: int, chat: str = "a@c.us") -> Message:
    return Message(
        external_id=external_id,
        chat_id=chat,
        sent_at=BASE + timedelta(minutes=minute),
        from_me=False,
        author=None,
        text=None,
        content_type="text",
        media=None,
        raw=None,
    )


class FakeSessionStore:
    """Applies plans the way the SQL write path does: by chat, neighbours only."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict] = {}  # chat -> {session id -> SessionSpan}
        self.session_of: dict[str, object] = {}
        self.chat_of: dict[str, str] = {}

    def write(self, batch: list[Message]) -> None:
        new = [
            m
            for m in {m.external_id: m for m in batch}.values()
            if m.external_id not in self.session_of
        ]
        by_chat: dict[str, list[Message]] = {}
        for m in new:
            by_chat.setdefault(m.chat_id, []).append(m)
        for chat, chat_messages in by_chat.items():
            low, high = neighbour_window((m.sent_at for m in chat_messages), TIMEOUT)
            stored = self.sessions.setdefault(chat, {})
            neighbours = [
                s for s in stored.values() if s.last_activity_at >= low and s.started_at <= high
            ]
            plan = plan_chat_sessions(neighbours, chat_messages, TIMEOUT, CHANNEL)
            # the SQL write path finds each message's session among the created and extended
            assert set(plan.assignments.values()) <= {s.id for s in plan.created + plan.extended}
            self._apply(stored, plan)
            for m in chat_messages:
                self.session_of[m.external_id] = plan.assignments[m.external_id]
                self.chat_of[m.external_id] = chat

    def join(self, absorbed_chat: str, chat: str) -> None:
        """The absorbed chat's messages and sessions become the chat's, as the store does."""
        moved = self.sessions.pop(absorbed_chat, {})
        stored = self.sessions.setdefault(chat, {})
        plan = join_sessions([*moved.values(), *stored.values()], TIMEOUT)
        stored.update(moved)
        for external_id, owner in self.chat_of.items():
            if owner == absorbed_chat:
                self.chat_of[external_id] = chat
        self._apply(stored, plan)

    def _apply(self, stored: dict, plan) -> None:
        """Write a plan's spans into one chat's sessions; absorbed sessions' messages move."""
        for span in plan.created + plan.extended:
            stored[span.id] = span
        for absorbed, survivor in plan.merged:
            del stored[absorbed]
            for external_id, session_id in self.session_of.items():
                if session_id == absorbed:
                    self.session_of[external_id] = survivor

    def partition(self, chat: str) -> set[frozenset[str]]:
        groups: dict[object, set[str]] = {}
        for external_id, session_id in self.session_of.items():
            if self.chat_of[external_id] == chat:
                groups.setdefault(session_id, set()).add(external_id)
        return {frozenset(group) for group in groups.values()}


def one_shot(messages: list[Message], chat: str) -> list[list[Message]]:
    return partition([m for m in messages if m.chat_id == chat], TIMEOUT)


history = st.lists(
    st.tuples(st.sampled_from(["a@c.us", "b@g.us"]), st.integers(0, 48).map(lambda n: n * 5)),
    min_size=1,
    max_size=40,
).map(lambda rows: [message(f"m{i:03d}", minute, chat) for i, (chat, minute) in enumerate(rows)])


@settings(max_examples=300, deadline=None)
@given(history=history, data=st.data())
def test_any_order_and_batching_gives_the_one_shot_partition(history, data) -> None:
    arrival = data.draw(st.permutations(history))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrival)), max_size=6)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]
    replays = data.draw(st.lists(st.sampled_from(history), max_size=5))
    store = FakeSessionStore()
    for batch in batches:
        store.write(batch + replays)
    for chat in ("a@c.us", "b@g.us"):
        expected = one_shot(history, chat)
        assert store.partition(chat) == {frozenset(m.external_id for m in s) for s in expected}
        spans = sorted(
            (s.started_at, s.last_activity_at, s.message_count)
            for s in store.sessions.get(chat, {}).values()
        )
        assert spans == [(s[0].sent_at, s[-1].sent_at, len(s)) for s in expected]


@settings(max_examples=200, deadline=None)
@given(history=history, data=st.data())
def test_two_chats_joined_give_the_one_shot_partition_of_all_their_messages(history, data) -> None:
    """A LID chat joining its phone chat: as if every message had always been in one chat."""
    store = FakeSessionStore()
    store.write(data.draw(st.permutations(history)))
    store.join("b@g.us", "a@c.us")
    joined = [msgspec.structs.replace(m, chat_id="a@c.us") for m in history]
    expected = one_shot(joined, "a@c.us")
    assert store.partition("a@c.us") == {frozenset(m.external_id for m in s) for s in expected}
    spans = sorted(
        (s.started_at, s.last_activity_at, s.message_count)
        for s in store.sessions["a@c.us"].values()
    )
    assert spans == [(s[0].sent_at, s[-1].sent_at, len(s)) for s in expected]


def test_a_gap_equal_to_the_timeout_stays_in_the_session() -> None:
    sessions = partition([message("a", 0), message("b", 30), message("c", 61)], TIMEOUT)
    assert [[m.external_id for m in s] for s in sessions] == [["a", "b"], ["c"]]


def test_a_bridging_message_merges_into_the_older_session() -> None:
    older = SessionSpan(session_id_for(CHANNEL, "a"), BASE, BASE + timedelta(minutes=10), 3)
    newer = SessionSpan(
        session_id_for(CHANNEL, "z"), BASE + timedelta(minutes=60), BASE + timedelta(minutes=70), 2
    )
    plan = plan_chat_sessions([newer, older], [message("bridge", 35)], TIMEOUT, CHANNEL)
    assert plan.merged == [(newer.id, older.id)]
    assert plan.extended == [SessionSpan(older.id, BASE, BASE + timedelta(minutes=70), 6)]
    assert plan.assignments == {"bridge": older.id}
    assert plan.created == []


def test_a_message_inside_a_gap_extends_without_merging() -> None:
    span = SessionSpan(session_id_for(CHANNEL, "a"), BASE, BASE + timedelta(minutes=10), 2)
    plan = plan_chat_sessions([span], [message("late", 40)], TIMEOUT, CHANNEL)
    assert plan.extended == [SessionSpan(span.id, BASE, BASE + timedelta(minutes=40), 3)]
    assert plan.merged == []


def test_untouched_stored_sessions_are_left_alone() -> None:
    span = SessionSpan(session_id_for(CHANNEL, "a"), BASE, BASE + timedelta(minutes=10), 2)
    plan = plan_chat_sessions([span], [message("far", 500)], TIMEOUT, CHANNEL)
    assert plan.extended == [] and plan.merged == []
    assert [s.message_count for s in plan.created] == [1]


def test_session_ids_are_derived_from_the_first_message() -> None:
    plan = plan_chat_sessions([], [message("second", 5), message("first", 0)], TIMEOUT, CHANNEL)
    assert [s.id for s in plan.created] == [session_id_for(CHANNEL, "first")]


@given(channel_key=st.text(), first_external_id=st.text())
def test_a_session_id_is_the_uuid5_of_its_channel_and_first_message(
    channel_key: str, first_external_id: str
) -> None:
    name = f"{channel_key}\x1f{first_external_id}"
    assert session_id_for(channel_key, first_external_id) == uuid5(SESSION_NAMESPACE, name)
