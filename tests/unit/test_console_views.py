"""What the console shows, computed from rows: sessions cut, labels, pace of an import."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatport.api.console import views
from chatport.domain.progress import ImportProgress, at_start, rates

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
    early = rates(listing, 2.0)  # listing under way: the plan so far, flagged as an estimate
    assert (early.chats_planned, early.chats_planned_estimated) == (40, True)
    assert early.percent == 0 and early.eta_seconds is None
    assert early.messages_per_second == 250
    resumed = ImportProgress(
        chats_seen=40, chats_listed=True, chats_done=60, chats_failed=5, chats_before=50
    )
    pace = rates(resumed, 10.0)  # 15 chats finished in 10 s, of 50 + 40 planned
    assert (pace.chats_planned, pace.chats_planned_estimated) == (90, False)
    assert pace.percent == pytest.approx(65 * 100 / 90)
    assert pace.eta_seconds == pytest.approx(25 * 10 / 15)
    assert rates(replace(resumed, chats_before=65), 10.0).eta_seconds is None
    nothing = rates(ImportProgress(chats_listed=True), 0.0)  # an empty account, at once
    assert (nothing.percent, nothing.messages_per_second, nothing.eta_seconds) == (100.0, 0, None)
    assert rates(ImportProgress(), 1.0).percent is None  # nothing listed yet


def test_a_resumed_or_retried_run_plans_the_whole_job():
    resumed = at_start(done=[f"c{i}" for i in range(28)])  # 28 of 300 done before
    assert rates(resumed, 1.0).chats_planned == 28
    resumed.chats_seen, resumed.chats_listed, resumed.chats_done = 272, True, 300
    assert (rates(resumed, 60.0).chats_planned, rates(resumed, 60.0).percent) == (300, 100.0)
    retried = at_start(done=[f"c{i}" for i in range(298)], only=["x", "y"])
    pace = rates(retried, 1.0)  # known before the listing finds them: not an estimate
    assert (pace.chats_planned, pace.chats_planned_estimated) == (300, False)
    retried.chats_done += 1
    retried.chats_seen = 1  # the listing has found one of the two so far
    pace = rates(retried, 10.0)
    assert (pace.chats_planned, pace.eta_seconds) == (300, pytest.approx(10.0))
