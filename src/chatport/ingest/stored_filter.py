"""A re-import's shortcut: a fetch process drops the messages the store already holds.

Each chunk's messages of chats the store held when the job started are looked up (read
only, the write path's own duplicate check by chats and time span,
`batch_writer.stored_in_span`) before they are validated, and counted as duplicates instead
of being validated and written: a re-import, or the part of a resumed job already written,
costs the write path next to nothing. The write path still checks every message it gets, so
a message stored meanwhile is still skipped exactly once. A first import finds none of its
chats there, and its fetchers never look.
"""

from __future__ import annotations

import logging
from datetime import datetime

from chatport.bootstrap import open_database
from chatport.domain.model import IncomingMessage
from chatport.domain.normalise import InvalidValue, normalise_timestamp
from chatport.store.batch_writer import stored_in_span
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
            database = open_database(database_url)
            return cls(database, channel_id, known_chats)
        except Exception as error:  # noqa: BLE001 - an optimisation; the writer checks anyway
            log.warning("fetcher: duplicates checked by the writer only (%s)", error)
            return None

    def drop_stored(self, items: list[IncomingMessage]) -> tuple[list[IncomingMessage], int]:
        """`items` without those already stored, and how many those were (duplicates).
        Looked up before validation, which the dropped messages are spared: by the chats the
        store held and the items' time span (`batch_writer.stored_in_span`)."""
        candidates: list[IncomingMessage] = []  # of a stored chat, with an id and a time
        times: list[datetime] = []
        for item in items:
            if item.chat_id in self.known_chats and isinstance(item.external_id, str):
                try:
                    times.append(normalise_timestamp(item.sent_at))
                except InvalidValue:
                    continue  # the writer stores it as invalid
                candidates.append(item)
        if not candidates:
            return items, 0
        chats = {item.chat_id for item in candidates}
        try:
            with self.database.engine.connect() as connection:
                ops = self.database.ops
                stored = stored_in_span(
                    connection, ops, self.channel_id, chats, min(times), max(times)
                )
        except Exception as error:  # noqa: BLE001 - an optimisation; the writer checks anyway
            log.warning("fetcher: duplicates checked by the writer only from now (%s)", error)
            self.known_chats = frozenset()
            return items, 0
        dropped = {id(item) for item in candidates if item.external_id in stored}
        if not dropped:
            return items, 0
        return [item for item in items if id(item) not in dropped], len(dropped)

    def close(self) -> None:
        """Release the connection."""
        self.database.dispose()
