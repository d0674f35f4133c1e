"""A re-import's shortcut: a fetch process drops the messages the store already holds.

Each chunk's messages of chats the store held when the job started are looked up (read
only, the write path's own duplicate check by chats and time span,
`store.write_path.message_keys.stored_in_span`) before they are mapped and validated, and counted as
duplicates instead of being mapped, validated and written: a re-import, or the part of a
resumed job already written, costs the write path next to nothing. The write path still
checks every message it gets, so a message stored meanwhile is still skipped exactly once.
A first import finds none of its chats there, and its fetchers never look.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from chatport.domain.normalise import InvalidValue, normalise_timestamp
from chatport.store.database import Database, open_database
from chatport.store.write_path.message_keys import stored_in_span

log = logging.getLogger(__name__)

T = TypeVar("T")
StoredKey = tuple[str, Any, Any]
"""A message's chat (as stored), key (`domain.keys`) and time (as sent: `normalise_timestamp`
reads it)."""


class StoredFilter:
    """The store's view of one channel, for a fetch process."""

    def __init__(
        self,
        database: Database,
        channel_id: int,
        known_chats: frozenset[str],
        *,
        owns_database: bool = False,
    ) -> None:
        self.database = database
        self.channel_id = channel_id
        self.known_chats = known_chats
        self._owns_database = owns_database

    @classmethod
    def open(
        cls,
        database_url: str,
        channel_id: int,
        known_chats: frozenset[str],
        database: Database | None = None,
    ) -> StoredFilter | None:
        """The filter, on `database` when given (it stays the caller's to dispose), else on a
        store it opens; None when the store cannot be opened (the write path's check alone
        then finds the duplicates)."""
        try:
            if database is not None:
                return cls(database, channel_id, known_chats)
            return cls(open_database(database_url), channel_id, known_chats, owns_database=True)
        except Exception as error:  # noqa: BLE001 - an optimisation; the write path checks
            log.warning("fetcher: duplicates left to the write path's check (%s)", error)
            return None

    def drop_stored(
        self, items: list[T], key: Callable[[T], StoredKey | None]
    ) -> tuple[list[T], int]:
        """`items` without those already stored, and how many those were (duplicates).
        `key(item)`: its chat, key and time, None to keep it whatever the store holds. Looked
        up by the chats the store held and the items' time span
        (`store.write_path.message_keys.stored_in_span`); an item without an id or with a time that
        is not one is kept, for the write path to store as invalid."""
        candidates: list[tuple[int, str]] = []  # (index in items, key) of a stored chat
        chats: set[str] = set()
        times: list[datetime] = []
        known = self.known_chats
        for index, item in enumerate(items):
            found = key(item)
            if found is None:
                continue
            chat, message_key, sent_at = found
            if chat in known and isinstance(message_key, str):
                try:
                    times.append(normalise_timestamp(sent_at))
                except InvalidValue:
                    continue
                candidates.append((index, message_key))
                chats.add(chat)
        if not candidates:
            return items, 0
        try:
            with self.database.engine.connect() as connection:
                ops = self.database.ops
                stored = stored_in_span(
                    connection, ops, self.channel_id, chats, min(times), max(times)
                )
        except Exception as error:  # noqa: BLE001 - an optimisation; the write path checks
            log.warning("fetcher: duplicates left to the write path's check from now (%s)", error)
            self.known_chats = frozenset()
            return items, 0
        dropped = {index for index, message_key in candidates if message_key in stored}
        if not dropped:
            return items, 0
        return [item for index, item in enumerate(items) if index not in dropped], len(dropped)

    def close(self) -> None:
        """Release the store, if the filter opened it."""
        if self._owns_database:
            self.database.dispose()
