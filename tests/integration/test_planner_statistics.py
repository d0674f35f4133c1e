"""PostgreSQL: tables that outgrow their statistics get analysed, off the writer's path."""

from __future__ import annotations

from sqlalchemy import text

from chatport.bootstrap import build_database
from chatport.domain.model import Origin
from chatport.settings import Settings
from tests.builders import incoming
from tests.waiting import eventually


def test_a_growing_messages_table_is_analysed_soon_after_the_write(postgresql_url: str) -> None:
    database = build_database(Settings(database_url=postgresql_url))
    try:
        channel = database.channel()
        batch = [incoming(f"m{n}", n / 10, chat=f"55119{n % 50:06d}@c.us") for n in range(12_000)]
        database.write_batch(channel, batch, origin=Origin.IMPORT)
        query = text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'messages'")

        def analysed() -> bool:
            with database.engine.connect() as connection:
                return connection.execute(query).scalar() is not None

        eventually(analysed, "messages was analysed", every=0.1)
    finally:
        database.dispose()
