"""A re-import's shortcut: a fetch process drops the messages the store already holds.

Each chunk's messages of chats the store held when the job started are looked up (read
only, the writer's own duplicate check, `batch_writer.stored_ids`) and counted as duplicates
instead of crossing to the writer: a re-import, or the part of a resumed job already written,
costs the writer (the import's busiest process) next to nothing. The writer still checks
every message it gets, so a message stored meanwhile is still skipped exactly once. A first
import finds none of its chats there, and its fetchers never open the store.
"""

from __future__ import annotations

import logging

from chatport.bootstrap import build_database
from chatport.domain.batch import PreparedBatch
from chatport.settings import Settings
from chatport.store.batch_writer import stored_ids
from chatport.store.database import Database

log = logging.getLogger(__name__)


class StoredFilter:
    """The store's view of one channel, for a fetch process."""

    def __init__(self, database: Database, channel_id: int, known_chats: frozenset[str]) -> None:
        self.database = database
        self.channel_id = channel_id
        self.known_chats = known_chats

    @classmethod
    def open(
        cls, database_url: str, channel_id: int, known_chats: frozenset[str]
    ) -> StoredFilter | None:
        """The filter, or None when the store cannot be opened (the writer's check alone
        then finds the duplicates)."""
        try:
            database = build_database(Settings(database_url=database_url), check_schema=False)
            return cls(database, channel_id, known_chats)
        except Exception as error:  # noqa: BLE001 - an optimisation; the writer checks anyway
            log.warning("fetcher: duplicates checked by the writer only (%s)", error)
            return None

    def drop_stored(self, batch: PreparedBatch) -> None:
        """Remove from `batch` the messages already stored, counting them as duplicates."""
        known = [m for m in batch.messages if m.chat_id in self.known_chats]
        if not known:
            return
        try:
            with self.database.engine.connect() as connection:
                stored = stored_ids(connection, self.database.ops, self.channel_id, known)
        except Exception as error:  # noqa: BLE001 - an optimisation; the writer checks anyway
            log.warning("fetcher: duplicates checked by the writer only from now (%s)", error)
            self.known_chats = frozenset()
            return
        if stored:
            kept = [m for m in batch.messages if m.external_id not in stored]
            batch.duplicates += len(batch.messages) - len(kept)
            batch.messages = kept

    def close(self) -> None:
        """Release the connection."""
        self.database.dispose()
