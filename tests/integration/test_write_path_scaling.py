"""The write path issues the same statements whatever the batch size, and stays exact when
several writers race on the same chats."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from chatport.domain.batch import prepare_batch
from chatport.domain.model import Origin
from chatport.domain.sessions import partition
from chatport.store.backends import pg_pipeline, postgres
from chatport.store.database import Database
from chatport.store.tables import messages
from tests.builders import incoming


@contextmanager
def counted_statements(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent through SQLAlchemy (an executemany counts once), every COPY and
    every statement sent on the driver's cursors (pg_pipeline)."""
    seen: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement.split()[0])

    original_copy = postgres.copy_rows
    original_queue, original_execute = pg_pipeline.queue, pg_pipeline.execute

    def counting_copy(cursor, table, columns, rows, into=""):
        seen.append("COPY")
        return original_copy(cursor, table, columns, rows, into)

    def counting_queue(connection, sql, params):
        seen.append(sql.split()[0])
        return original_queue(connection, sql, params)

    def counting_execute(connection, sql, params):
        seen.append(sql.split()[0])
        return original_execute(connection, sql, params)

    with monkeypatch.context() as patch:
        patch.setattr(postgres, "copy_rows", counting_copy)
        patch.setattr(pg_pipeline, "queue", counting_queue)
        patch.setattr(pg_pipeline, "execute", counting_execute)
        event.listen(database.engine, "before_cursor_execute", on_execute)
        try:
            yield seen
        finally:
            event.remove(database.engine, "before_cursor_execute", on_execute)


def batch_of(size: int, prefix: str) -> list:
    """`size` new messages over five new chats, one session per chat, some inbound."""
    return [
        incoming(
            f"{prefix}-{i}",
            minutes=i // 5,
            chat=f"55119{prefix}{i % 5:04d}@c.us",
            from_me=i % 3 == 0,
        )
        for i in range(size)
    ]


def test_the_statement_count_does_not_grow_with_the_batch_size(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = database.channel()
    counts = {}
    for size, prefix in ((10, "11"), (100, "22"), (200, "44"), (2_000, "33")):
        batch = batch_of(size, prefix)
        with counted_statements(database, monkeypatch) as seen, database.unit_of_work() as uow:
            result = uow.write_batch(channel, batch, origin=Origin.LIVE)
            uow.commit()
        assert result.created == size
        counts[size] = seen
    # on PostgreSQL up to postgres.SMALL rows go as one INSERT, more by COPY: one count each
    shown = "\n".join(map(str, counts.values()))
    assert len(counts[10]) == len(counts[100]) and len(counts[200]) == len(counts[2_000]), shown
    assert max(map(len, counts.values())) <= 20


def test_concurrent_writers_on_the_same_chat_do_not_fragment_sessions(database: Database) -> None:
    channel = database.channel()
    history = [incoming(f"m{i:03d}", minutes=i * 7) for i in range(160)]
    parts = [history[k::4] for k in range(4)]
    errors: list[BaseException] = []

    def writer(part: list) -> None:
        try:
            for start in range(0, len(part), 2):
                database.write_batch(
                    channel, part[start : start + 2] + history[:2], origin=Origin.LIVE
                )
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.engine.connect() as connection:
        stored = connection.execute(select(messages.c.external_id, messages.c.session_id)).all()
    assert len(stored) == 160
    assert (
        len({session_id for _, session_id in stored})
        == len(partition(prepare_batch(history).messages, channel.session_timeout))
        == 1
    )


events = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 60).map(lambda n: n * 6)), min_size=1, max_size=25
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=events, data=st.data())
def test_any_arrival_order_on_a_real_store_gives_the_one_shot_partition(
    database: Database, rows, data
) -> None:
    with database.unit_of_work() as uow:
        channel = uow.create_channel(f"prop-{uuid.uuid4().hex}")
        uow.commit()
    chats = [f"55119000{n}@c.us" for n in range(4)]
    history = [incoming(f"e{i}", minutes=m, chat=chats[c]) for i, (c, m) in enumerate(rows)]
    arrival = data.draw(st.permutations(history))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrival)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(arrival)], strict=True):
        database.write_batch(channel, arrival[start:end], origin=Origin.IMPORT)
    with database.engine.connect() as connection:
        stored = connection.execute(
            select(messages.c.external_id, messages.c.session_id).where(
                messages.c.channel_id == channel.id
            )
        ).all()
    groups: dict[object, set[str]] = {}
    for external_id, session_id in stored:
        groups.setdefault(session_id, set()).add(external_id)
    expected = set()
    prepared = prepare_batch(history).messages
    for chat in chats:
        for session in partition(
            [m for m in prepared if m.chat_id == chat], channel.session_timeout
        ):
            expected.add(frozenset(m.external_id for m in session))
    assert {frozenset(g) for g in groups.values()} == expected
