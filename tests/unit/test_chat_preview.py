"""Chat previews move forward only; history is quiet; live answers clear the unread count."""

from __future__ import annotations

from chatport.domain.batch import prepare_batch
from chatport.domain.chats import ChatState, advance_chat
from chatport.domain.events import batch_events
from chatport.domain.model import BatchResult, Origin
from chatport.domain.sessions import plan_chat_sessions
from tests.builders import BASE, incoming

EMPTY = ChatState(None, None, None, None, 0)


def messages(*items):
    return prepare_batch(items).messages


def test_history_never_raises_unread() -> None:
    preview = advance_chat(EMPTY, messages(incoming("a", 0), incoming("b", 1)), Origin.IMPORT)
    assert preview.unread_count == 0 and preview.last_message_id == "b"


def test_live_inbound_counts_and_an_answer_clears() -> None:
    batch = messages(incoming("a", 0), incoming("me", 1, from_me=True), incoming("b", 2))
    assert advance_chat(EMPTY, batch, Origin.LIVE).unread_count == 1


def test_an_older_message_does_not_move_the_preview() -> None:
    state = ChatState(BASE.replace(hour=23), "newest", "latest text", "me", 3)
    preview = advance_chat(state, messages(incoming("old", 0, from_me=True)), Origin.LIVE)
    assert not preview.moved
    assert (preview.last_message_id, preview.last_message_text, preview.unread_count) == (
        "newest",
        "latest text",
        3,
    )


def test_only_live_inbound_messages_emit_message_received() -> None:
    batch = messages(incoming("a", 0), incoming("me", 1, from_me=True))
    plans = {"5511999990001@c.us": plan_chat_sessions([], batch, BASE - BASE.replace(hour=11), "1")}
    live = batch_events(1, Origin.LIVE, batch, plans, BatchResult(created=2))
    history = batch_events(1, Origin.IMPORT, batch, plans, BatchResult(created=2))
    assert [e.type for e in live] == ["session.opened", "message.received"]
    assert [e.type for e in history] == ["history.imported"]
    assert history[-1].payload["counts"]["created"] == 2
