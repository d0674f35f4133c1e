"""The fetch side's duplicate shortcut (`StoredFilter`) against a real store."""

from __future__ import annotations

from chatport.domain.batch import prepare_batch
from chatport.domain.model import Origin
from chatport.ingest.stored_filter import StoredFilter
from chatport.store.database import Database
from chatport.store.reads import channel_chat_ids
from tests.builders import incoming

OLD_CHAT, NEW_CHAT = "5511999990001@c.us", "5511999990002@c.us"


def url_of(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


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
    batch = prepare_batch(arriving)
    shortcut = StoredFilter.open(url_of(database), channel.id, known)
    assert shortcut is not None
    try:
        shortcut.drop_stored(batch)
    finally:
        shortcut.close()
    assert batch.duplicates == 150
    assert sorted(m.external_id for m in batch.messages) == sorted(
        [*(f"late-{i}" for i in range(3)), *(f"new-{i}" for i in range(5))]
    )
    result = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (result.created, result.duplicates) == (8, 150)


def test_a_store_that_cannot_be_read_leaves_the_batch_to_the_writer(
    database: Database, blank_sqlite_url: str
) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("m-1", 0, OLD_CHAT)], origin=Origin.IMPORT)
    batch = prepare_batch([incoming("m-1", 0, OLD_CHAT), incoming("m-2", 1, OLD_CHAT)])
    shortcut = StoredFilter.open(blank_sqlite_url, channel.id, frozenset({OLD_CHAT}))
    assert shortcut is not None  # the file opens; its tables do not exist
    shortcut.drop_stored(batch)
    shortcut.close()
    assert (len(batch.messages), batch.duplicates) == (2, 0)
    result = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (result.created, result.duplicates) == (1, 1)
