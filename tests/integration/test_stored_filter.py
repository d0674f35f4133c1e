"""The fetch side's duplicate shortcut (`StoredFilter`) against a real store."""

from __future__ import annotations

import pytest

from chatport.domain.batch import prepare_batch
from chatport.domain.model import IncomingMessage, Origin
from chatport.ingest.waha.stored_filter import StoredFilter
from chatport.store.database import Database
from chatport.store.reads.api import channel_chat_ids
from tests.builders import incoming

OLD_CHAT, NEW_CHAT = "5511999990001@c.us", "5511999990002@c.us"


def url_of(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def key(message: IncomingMessage) -> tuple[str, object, object]:
    return message.chat_id, message.external_id, message.sent_at


def test_messages_already_stored_are_counted_as_duplicates_and_not_sent(
    database: Database,
) -> None:
    channel = database.channel()
    stored = [incoming(f"old-{i}", i, OLD_CHAT) for i in range(300)]
    database.write_batch(channel, stored, origin=Origin.IMPORT)
    with database.engine.connect() as connection:
        known = channel_chat_ids(connection, channel.id)
    assert known == {OLD_CHAT}
    arriving = [
        *stored[::2],
        *(incoming(f"late-{i}", 500 + i, OLD_CHAT) for i in range(3)),
        *(incoming(f"new-{i}", i, NEW_CHAT) for i in range(5)),
    ]
    shortcut = StoredFilter.open(url_of(database), channel.id, known)
    assert shortcut is not None
    try:
        kept, dropped = shortcut.drop_stored(arriving, key)
    finally:
        shortcut.close()
    assert dropped == 150
    assert sorted(m.external_id for m in kept) == sorted(
        [*(f"late-{i}" for i in range(3)), *(f"new-{i}" for i in range(5))]
    )
    batch = prepare_batch(kept)
    batch.duplicates += dropped
    result = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (result.created, result.duplicates) == (8, 150)


def test_an_invalid_message_of_a_stored_chat_is_left_for_the_writer_to_refuse(
    database: Database,
) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("m-1", 0, OLD_CHAT)], origin=Origin.IMPORT)
    shortcut = StoredFilter.open(url_of(database), channel.id, frozenset({OLD_CHAT}))
    assert shortcut is not None
    try:
        arriving = [incoming("m-1", 0, OLD_CHAT), incoming("m-1", 0, OLD_CHAT, sent_at="never")]
        kept, dropped = shortcut.drop_stored(arriving, key)
    finally:
        shortcut.close()
    assert dropped == 1 and [m.sent_at for m in kept] == ["never"]
    assert len(prepare_batch(kept).invalid) == 1


def test_a_store_that_cannot_be_read_leaves_the_batch_to_the_writer(
    database: Database, blank_sqlite_url: str
) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("m-1", 0, OLD_CHAT)], origin=Origin.IMPORT)
    arriving = [incoming("m-1", 0, OLD_CHAT), incoming("m-2", 1, OLD_CHAT)]
    shortcut = StoredFilter.open(blank_sqlite_url, channel.id, frozenset({OLD_CHAT}))
    assert shortcut is not None  # the file opens; its tables do not exist
    kept, dropped = shortcut.drop_stored(arriving, key)
    shortcut.close()
    assert (kept, dropped) == (arriving, 0)
    result = database.write_batch(channel, prepare_batch(kept), origin=Origin.IMPORT)
    assert (result.created, result.duplicates) == (1, 1)


def test_a_filter_on_a_store_it_was_given_leaves_that_store_open(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("m-1", 0, OLD_CHAT)], origin=Origin.IMPORT)
    shortcut = StoredFilter.open("unused://", channel.id, frozenset({OLD_CHAT}), database)
    assert shortcut is not None and shortcut.database is database
    arriving = [incoming("m-1", 0, OLD_CHAT), incoming("m-2", 1, OLD_CHAT)]
    assert shortcut.drop_stored(arriving, key) == ([arriving[1]], 1)
    disposed: list[bool] = []
    monkeypatch.setattr(database.engine, "dispose", lambda *args: disposed.append(True))
    shortcut.close()
    assert disposed == []  # the fetch process's writer disposes it, once
