"""A fetcher packs pages of several chats into chunks: bounded, complete, in order."""

import asyncio
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from chatport.ingest.waha.fetch_plan import FetchPlan
from chatport.ingest.waha.fetch_process import _Fetcher, _Part
from chatport.sources.waha.client import WahaChat, WahaSettings
from tests.builders import incoming

PLAN = FetchPlan(waha=WahaSettings(url="http://waha"), since=None, until=None)

pages_of_chats = st.lists(  # chats, each a list of page lengths (0 pages: an empty chat)
    st.lists(st.integers(1, 40), max_size=5), min_size=1, max_size=8
)


def pack(chats: list[list[int]], chunk_size: int, failing: set[int]):
    """Run `_pack` over the chats' pages, in the order interleaved workers would queue them."""
    parts: list[_Part] = []
    for index, pages in enumerate(chats):
        chat = f"55{index:04d}@c.us"
        counter = 0
        for length in pages:
            ids = range(counter, counter + length)
            counter += length
            page = [incoming(f"{chat}-{n}", n, chat) for n in ids]
            parts.append(_Part(WahaChat(chat, None, None), page, False))
        error = "HTTP 500" if index in failing else None
        parts.append(_Part(WahaChat(chat, None, None), [], last=True, error=error))
    sent = []

    async def run():
        queue: asyncio.Queue = asyncio.Queue()
        for part in [*parts, None]:
            queue.put_nowait(part)
        fetcher = _Fetcher(replace(PLAN, chunk_size=chunk_size), sent.append)
        await fetcher._pack(queue)

    asyncio.run(run())
    return sent


@settings(max_examples=60, deadline=None)
@given(pages_of_chats, st.integers(1, 60), st.sets(st.integers(0, 7)))
def test_chunks_are_bounded_complete_and_mark_chats_after_their_last_message(
    chats, chunk_size, failing
):
    chunks = pack(chats, chunk_size, failing)
    seen: list[str] = []
    finished: set[str] = set()
    for chunk in chunks:
        assert len(chunk.batch.messages) <= chunk_size
        assert chunk.batch.messages or chunk.done or chunk.failed
        for message in chunk.batch.messages:
            assert message.chat_id not in finished  # nothing of a chat after it is done
            seen.append(message.external_id)
        finished |= set(chunk.done) | set(chunk.failed)
    expected = [
        f"55{index:04d}@c.us-{n}" for index, pages in enumerate(chats) for n in range(sum(pages))
    ]
    assert seen == expected
    chats_ids = {f"55{index:04d}@c.us" for index in range(len(chats))}
    assert {c for chunk in chunks for c in chunk.done} == {
        c for i, c in enumerate(sorted(chats_ids)) if i not in failing
    }
    assert {c for chunk in chunks for c in chunk.failed} == {
        c for i, c in enumerate(sorted(chats_ids)) if i in failing
    }
