"""Source payloads archived by block (`store.raw_archive`): what a message was written with is
what its payload reads back as, on SQLite and PostgreSQL, also for rows of before 0016."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import orjson
from sqlalchemy import (
    Boolean,
    Integer,
    String,
    Text,
    Uuid,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import JSONB

from chatport.bootstrap import build_database
from chatport.domain.model import Origin
from chatport.settings import Settings
from chatport.store import jsoncodec
from chatport.store.column_types import UtcDateTime
from chatport.store.database import Database
from chatport.store.migrate import upgrade
from chatport.store.raw_archive import BLOCK_LINES, raw_payload, raw_payloads
from chatport.store.tables import message_raws, messages
from tests.builders import incoming

PRETTY = b'{\n  "id": "pretty",\n  "body": "two\\nlines",\n  "list": [1, 2.5, null, true]\n}'


def payload(i: int) -> dict:
    return {"id": f"m{i}", "body": f"text {i} 👩‍👩‍👧", "n": i, "nested": {"ok": [i, None]}}


def stored_raws(database: Database) -> dict[str, bytes]:
    with database.engine.connect() as connection:
        ids = dict(connection.execute(select(messages.c.external_id, messages.c.id)).all())
        found = raw_payloads(connection, ids.values())
    return {external_id: found[i] for external_id, i in ids.items() if i in found}


def test_payloads_read_back_as_written_across_blocks(database: Database) -> None:
    """A write of more than two blocks' payloads: each message's payload is the bytes the
    store serialised (a dict) or the same JSON (bytes, newlines between tokens and all)."""
    channel = database.channel()
    count = 2 * BLOCK_LINES + 5
    batch = [incoming(f"m{i}", i, raw=payload(i)) for i in range(count)]
    batch.append(incoming("pretty", count, raw=PRETTY))
    batch.append(msgspec.structs.replace(incoming("none", count + 1), raw=None))
    assert database.write_batch(channel, batch, origin=Origin.IMPORT).created == count + 2

    raws = stored_raws(database)
    assert "none" not in raws
    for i in range(count):
        assert raws[f"m{i}"] == jsoncodec.dumps(payload(i))
    assert orjson.loads(raws["pretty"]) == orjson.loads(PRETTY)
    with database.engine.connect() as connection:
        blocks = connection.execute(
            select(func.count(), func.sum(message_raws.c.lines)).select_from(message_raws)
        ).one()
        assert tuple(blocks) == (3, count + 1)
        assert raw_payload(connection, 10**9) is None


def test_a_live_message_gets_a_block_of_its_own_after_the_others(database: Database) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("a", 0, raw=payload(1))], origin=Origin.IMPORT)
    database.write_batch(channel, [incoming("b", 1, raw=payload(2))], origin=Origin.LIVE)
    assert stored_raws(database) == {
        "a": jsoncodec.dumps(payload(1)),
        "b": jsoncodec.dumps(payload(2)),
    }


def test_payloads_of_more_ids_than_one_query_binds(database: Database, monkeypatch) -> None:
    """Ids and blocks are read a slice at a time (10,000 in production; 2 here), so any
    number of messages can be asked for at once."""
    from chatport.store import raw_archive

    channel = database.channel()
    for i in range(5):  # a block each
        database.write_batch(channel, [incoming(f"m{i}", i, raw=payload(i))], origin=Origin.LIVE)
    monkeypatch.setattr(raw_archive, "_IDS_PER_QUERY", 2)
    assert stored_raws(database) == {f"m{i}": jsoncodec.dumps(payload(i)) for i in range(5)}


OLD_MESSAGES = table(
    "messages",
    *(column(name, Integer()) for name in ("id", "tenant_id", "channel_id")),
    *(column(name, String()) for name in ("external_id", "message_key", "chat_id")),
    *(column(name, String()) for name in ("content_type", "origin")),
    column("raw", Text()),
    column("session_id", Uuid()),
    column("from_me", Boolean()),
    column("sent_at", UtcDateTime()),
    column("created_at", UtcDateTime()),
)


def test_0016_moves_every_payload_to_the_archive_and_back(blank_url: str) -> None:
    """Rows of two channels stored at 0015, one without a payload: after the upgrade each
    payload reads back as the same JSON (the same text on SQLite; jsonb's own on PostgreSQL),
    new writes take blocks after the moved ones, and a downgrade puts the payloads back."""
    from alembic import command
    from sqlalchemy import text

    from chatport.store.migrate import _config

    now = datetime(2026, 3, 1, tzinfo=UTC)
    stored = {i: payload(i) for i in range(1, 8)}
    stored[3] = None
    database = build_database(Settings(database_url=blank_url), check_schema=False)
    try:
        upgrade(database.engine, "0015")
        jsonb = database.backend == "postgresql"
        with database.engine.begin() as connection:
            for i, document in stored.items():
                values = {
                    "tenant_id": 1,
                    "channel_id": 1 + i % 2,
                    "external_id": f"m{i}",
                    "message_key": f"m{i}",
                    "chat_id": "5511999990001@c.us",
                    "content_type": "text",
                    "origin": "import",
                    "session_id": uuid4(),
                    "from_me": False,
                    "sent_at": now,
                    "created_at": now,
                }
                if document is not None:
                    data = jsoncodec.dumps(document).decode()
                    values["raw"] = cast(literal(data, Text()), JSONB()) if jsonb else data
                connection.execute(insert(OLD_MESSAGES).values(**values))
        upgrade(database.engine)

        raws = stored_raws(database)
        assert set(raws) == {f"m{i}" for i, d in stored.items() if d is not None}
        for i, document in stored.items():
            if document is not None:
                assert orjson.loads(raws[f"m{i}"]) == document
                if database.backend == "sqlite":
                    assert raws[f"m{i}"] == jsoncodec.dumps(document)
        with database.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(message_raws)).scalar() == 2

        new = incoming("new", 0, raw=payload(99))
        database.write_batch(database.channel(), [new], origin=Origin.LIVE)
        assert stored_raws(database)["new"] == jsoncodec.dumps(payload(99))

        with database.engine.begin() as connection:
            command.downgrade(_config(connection), "0015")
            back = dict(connection.execute(text("SELECT external_id, raw FROM messages")).all())
        for i, document in stored.items():
            value = back[f"m{i}"]
            assert (orjson.loads(value) if isinstance(value, str) else value) == document
    finally:
        database.dispose()
