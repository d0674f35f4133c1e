"""What the console shows, computed from rows: sessions cut, labels, pace of an import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatport.api.console import views
from chatport.domain.progress import ImportProgress, rates

START = datetime(2025, 1, 1, tzinfo=UTC)


def row(minutes: int, session: str | None) -> SimpleNamespace:
    return SimpleNamespace(sent_at=START + timedelta(minutes=minutes), session_id=session)


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", "c", None]))))
def test_groups_keep_every_message_in_order_and_cut_only_where_the_session_changes(steps):
    minutes, messages = 0, []
    for step, session in steps:
        minutes += step
        messages.append(row(minutes, session))
    groups = views.group_by_session(messages, {"a": "A", "b": "B"})
    assert [m for g in groups for m in g.messages] == messages
    for group in groups:
        assert len({m.session_id for m in group.messages}) == 1
        assert group.session == {"a": "A", "b": "B"}.get(group.messages[0].session_id)
    for before, after in zip(groups, groups[1:], strict=False):
        assert before.messages[-1].session_id != after.messages[0].session_id
        assert after.gap_before == after.messages[0].sent_at - before.messages[-1].sent_at
    assert not groups or groups[0].gap_before is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (200, "3 min 20 s"), (3 * 3600 + 300, "3 h 5 min"),
     (timedelta(days=2, hours=3), "2 d 3 h"), (None, "—"), (-5, "0 s")],
)  # fmt: skip
def test_durations(seconds, text):
    assert views.duration(seconds) == text


def test_sizes_people_and_search_terms():
    assert [views.size(n) for n in (None, 0, 512, 1536, 12 * 1024**2)] == [
        "", "0 B", "512 B", "1.5 KB", "12.0 MB"
    ]  # fmt: skip
    assert views.person("5511999990001@c.us") == "+5511999990001"
    assert views.person("5511999990001@c.us", "Maria") == "Maria"
    assert views.person("1203630@g.us") == "1203630@g.us" and views.person(None) == ""
    assert views.search_terms(" +55 (11) 9999-0001 ") == (
        "+55 (11) 9999-0001", ("551199990001", "5511999990001")  # and with the 9th digit
    )  # fmt: skip
    assert views.search_terms("Maria ²") == ("Maria ²", ())
    assert views.search_terms("(011) 98765-4321", "BR") == (
        "(011) 98765-4321", ("011987654321", "5511987654321", "551187654321")
    )  # fmt: skip
    assert views.search_terms("(011) 98765-4321") == (
        "(011) 98765-4321", ("011987654321", "11987654321")  # no region: without the 0
    )  # fmt: skip
    assert views.search_terms("98765") == ("98765", ("98765",))
    assert views.media_label("image") == "Photo" and views.media_label("text") is None
    assert views.web_link("https://waha/files/a.jpg") == "https://waha/files/a.jpg"
    assert views.web_link("JavaScript:alert(1)") is None and views.web_link("file:///x") is None


def test_the_pace_of_a_run_counts_only_what_it_did():
    listing = ImportProgress(chats_seen=40, chats_done=0, messages=500, fetched=900)
    early = rates(listing, 2.0)
    assert early.percent is None and early.eta_seconds is None
    assert early.messages_per_second == 250
    resumed = ImportProgress(chats_seen=100, chats_listed=True, chats_done=60, chats_failed=5)
    pace = rates(resumed, 10.0, chats_done_at_start=50)  # 15 chats finished in 10 s
    assert pace.percent == 65.0 and pace.eta_seconds == pytest.approx(35 * 10 / 15)
    assert rates(resumed, 10.0, chats_done_at_start=65).eta_seconds is None
    nothing = rates(ImportProgress(chats_listed=True), 0.0)  # an empty account, at once
    assert (nothing.percent, nothing.messages_per_second, nothing.eta_seconds) == (100.0, 0, None)
