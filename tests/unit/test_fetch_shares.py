"""Fetch processes split the chats: each chat is fetched by exactly one of them."""

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from chatport.ingest.waha.fetch_plan import FetchPlan
from chatport.sources.waha.client import WahaSettings

PLAN = FetchPlan(waha=WahaSettings(url="http://waha"), since=None, until=None)


@given(st.lists(st.text(min_size=1), max_size=50), st.integers(1, 8))
def test_every_chat_has_exactly_one_fetcher(chat_ids, count):
    plans = [replace(PLAN, share=(index, count)) for index in range(count)]
    for chat_id in chat_ids:
        assert sum(plan.takes(chat_id) for plan in plans) == 1


def test_done_chats_are_skipped_and_a_retry_takes_only_its_chats():
    plan = replace(PLAN, skip_chats=frozenset({"a@c.us"}), only_chats=frozenset({"b@c.us"}))
    assert [plan.takes(c) for c in ("a@c.us", "b@c.us", "c@c.us")] == [False, True, False]
