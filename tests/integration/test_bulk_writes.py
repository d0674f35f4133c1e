"""`Database.bulk_writes`: the settings an import writes with, on both back ends."""

from __future__ import annotations

from sqlalchemy import func, select

from chatport.bootstrap import build_database
from chatport.domain.model import Origin
from chatport.settings import Settings
from chatport.store.backends.sqlite import BULK_CHECKPOINT_PAGES
from chatport.store.database import Database
from chatport.store.tables import messages
from tests.builders import incoming


def _pragma(database: Database, name: str) -> int:
    with database.engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()


def test_bulk_writes_land_in_the_same_database(database: Database) -> None:
    channel = database.channel()
    with database.bulk_writes() as bulk:
        result = bulk.write_batch(
            channel, [incoming(f"m{i}", minutes=i) for i in range(300)], origin=Origin.IMPORT
        )
        assert result.created == 300
        if database.backend == "postgresql":
            assert bulk is database  # the server checkpoints on its own
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(messages)).scalar_one() == 300


def test_sqlite_bulk_writes_checkpoint_every_64_mib_not_every_1000_pages(sqlite_url: str) -> None:
    database = build_database(Settings(database_url=sqlite_url))
    channel = database.channel()
    padding = "x" * 3000  # about a page a message (a raw payload would be compressed)
    try:
        assert _pragma(database, "wal_autocheckpoint") == 1000  # SQLite's default, elsewhere
        with database.bulk_writes() as bulk:
            assert bulk is not database
            assert _pragma(bulk, "wal_autocheckpoint") == BULK_CHECKPOINT_PAGES
            for start in range(0, 2000, 500):
                batch = [incoming(f"m{i}", i, text=padding) for i in range(start, start + 500)]
                bulk.write_batch(channel, batch, origin=Origin.IMPORT)
            with bulk.engine.connect() as connection:
                busy, pages, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            assert busy == 0 and pages > 2000  # no commit checkpointed at 1,000 pages
        with database.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(messages)).scalar() == 2000
    finally:
        database.dispose()


def test_an_in_memory_sqlite_database_writes_in_bulk_through_itself() -> None:
    database = build_database(Settings(database_url="sqlite://"))
    try:
        with database.bulk_writes() as bulk:
            assert bulk is database  # another engine would open another, empty database
    finally:
        database.dispose()
