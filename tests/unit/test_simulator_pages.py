"""The simulator's pre-encoded pages hold exactly what WAHA's paging rules select."""

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chatport.simulator.pages import encoded_chat
from chatport.simulator.world import World

WORLD = World(chats=20, messages=3_000, seed=7)
BIG = max(WORLD.chats, key=lambda chat: chat.message_count)


def expected(gte, lte, offset, limit, newest_first):
    records = [
        r
        for r in WORLD.messages(BIG)
        if (gte is None or r.timestamp >= gte) and (lte is None or r.timestamp <= lte)
    ]
    if newest_first:
        records.reverse()
    return [r.message["id"] for r in records[offset : offset + limit] if not r.hidden]


stamps = [r.timestamp for r in WORLD.messages(BIG)]
bounds = st.none() | st.integers(stamps[0] - 10, stamps[-1] + 10) | st.sampled_from(stamps)


@settings(max_examples=300, deadline=None)
@given(bounds, bounds, st.integers(0, 1_000), st.integers(0, 600), st.booleans())
def test_page_matches_the_paging_rules(gte, lte, offset, limit, newest_first):
    page = encoded_chat(WORLD, BIG).page(gte, lte, offset, limit, newest_first)
    ids = [message["id"] for message in msgspec.json.decode(page)]
    assert ids == expected(gte, lte, offset, limit, newest_first)
