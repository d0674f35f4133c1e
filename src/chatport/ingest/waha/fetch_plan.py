"""What the import step and its fetch processes tell each other: the plan a fetch process is
given (on its stdin), and the reports it sends back beside its chunks (on its stdout)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatport.domain.progress import RequestSeen
from chatport.sources.waha.client import WahaChat, WahaSettings

if TYPE_CHECKING:
    from chatport.ingest.waha.chunk_step import ChunkTarget


@dataclass(frozen=True)
class FetchPlan:
    """What to fetch: the WAHA server, the time range, the chats to skip or keep."""

    waha: WahaSettings
    since: int | None
    until: int | None
    skip_chats: frozenset[str] = frozenset()
    only_chats: frozenset[str] | None = None
    concurrency: int = 4
    chunk_size: int = 5_000
    share: tuple[int, int] = (0, 1)
    """(i, n): this fetcher takes the chats whose id hashes to i modulo n."""
    lids: dict[str, str] = field(default_factory=dict)
    """The session's `@lid` -> phone mapping, read once by the writer for every fetcher."""
    chats: tuple[WahaChat, ...] | None = None
    """The chats to fetch, already listed (a Temporal chunk); None: list them from WAHA."""
    active_since: int | None = None
    """List only the chats active since then (a catch-up): WAHA's listing, newest activity
    first, is read up to the first chat older."""
    store: tuple[str, int, frozenset[str]] | None = None
    """(database URL, channel id, the chats it held when the job started):
    where to look for messages already stored (`StoredFilter`); None: the writer finds
    them."""
    writes: ChunkTarget | None = None
    """Where this fetcher writes its chunks itself (a store that takes concurrent writers),
    sending `Written` instead of `Chunk`; None: chunks go to the writer process."""

    def takes(self, chat_id: str) -> bool:
        """Whether this fetcher imports `chat_id`."""
        if chat_id in self.skip_chats:
            return False
        if self.only_chats is not None and chat_id not in self.only_chats:
            return False
        index, count = self.share
        return count == 1 or zlib.crc32(chat_id.encode()) % count == index


@dataclass(frozen=True)
class Listed:
    """How many chats this fetcher (`share` index) covers so far; `complete` once its
    listing ended."""

    fetcher: int
    chats: int
    complete: bool


@dataclass(frozen=True)
class Fetched:
    """Pages of `messages` were read since the last Fetched (sent at most every
    `fetch_process._FETCHED_EVERY_SECONDS`, and before each chunk: Temporal activities
    heartbeat on it)."""

    fetcher: int
    messages: int
    requests: tuple[RequestSeen, ...] = ()
    """The WAHA requests made since the last Fetched (for the metrics)."""


@dataclass(frozen=True)
class Finished:
    """A fetcher's last word: None when everything was sent, else why it stopped."""

    error: BaseException | None
