"""PostgreSQL: statements queued on a transaction (store.pg_pipeline) travel with the next
statement or the commit, in order; a rollback or a failure leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from chatport.bootstrap import build_database
from chatport.settings import Settings
from chatport.store.backends import pg_pipeline
from chatport.store.database import Database
from chatport.store.tables import webhook_receipts

INSERT = (
    "INSERT INTO webhook_receipts (channel_id, envelope_id, event, received_at) "
    "SELECT 1, unnest(%s::text[]), 'message', now()"
)


@pytest.fixture
def database(postgresql_url: str) -> Iterator[Database]:
    database = build_database(Settings(database_url=postgresql_url))
    yield database
    database.dispose()


def stored(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        query = select(webhook_receipts.c.envelope_id).order_by(webhook_receipts.c.envelope_id)
        return list(connection.execute(query).scalars())


def test_queued_statements_go_with_the_next_statement_and_the_commit(database) -> None:
    with database.unit_of_work() as uow:
        pg_pipeline.queue(uow.connection, INSERT, (["a", "b"],))
        seen = uow.connection.execute(select(func.count()).select_from(webhook_receipts))
        assert seen.scalar_one() == 2  # sent before the query that could read them
        pg_pipeline.queue(uow.connection, INSERT, (["c"],))
        counted = pg_pipeline.execute(uow.connection, INSERT.replace("1,", "1, 'x' ||"), (["d"],))
        assert counted == 1
        pg_pipeline.queue(uow.connection, INSERT, (["e"],))
        uow.commit()
    assert stored(database) == ["a", "b", "c", "e", "xd"]


def test_a_rollback_drops_the_queue_and_the_connection_goes_back_clean(database) -> None:
    with database.unit_of_work() as uow:
        pg_pipeline.queue(uow.connection, INSERT, (["gone"],))
    with database.unit_of_work() as uow:  # the same pooled connection: nothing left over
        uow.connection.execute(text("SELECT 1"))
        uow.commit()
    assert stored(database) == []


def test_a_failing_queued_statement_fails_the_commit_and_nothing_is_kept(database) -> None:
    with pytest.raises(Exception, match="duplicate key"), database.unit_of_work() as uow:
        pg_pipeline.queue(uow.connection, INSERT, (["same"],))
        pg_pipeline.queue(uow.connection, INSERT, (["after"],))
        pg_pipeline.queue(uow.connection, INSERT, (["same"],))
        uow.commit()
    assert stored(database) == []
    with database.unit_of_work() as uow:  # the connection works again
        pg_pipeline.queue(uow.connection, INSERT, (["next"],))
        uow.commit()
    assert stored(database) == ["next"]
