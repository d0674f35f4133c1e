"""`chatport db upgrade` builds exactly the documented schema on both back ends."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from chatport.bootstrap import build_database
from chatport.errors import SchemaError
from chatport.settings import Settings
from chatport.store.migrate import current_revision, ensure_schema, head_revision, upgrade
from chatport.store.tables import STABLE_TABLES, channels, metadata, tenants


def test_upgrade_creates_the_stable_tables_and_the_defaults(blank_url: str) -> None:
    database = build_database(Settings(database_url=blank_url), check_schema=False)
    try:
        assert current_revision(database.engine) is None
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
        names = set(inspect(database.engine).get_table_names())
        assert set(STABLE_TABLES) <= names
        with database.engine.connect() as connection:
            assert connection.execute(select(tenants.c.name)).all() == [("default",)]
            assert connection.execute(select(channels.c.name, channels.c.waha_session)).all() == [
                ("default", "default")
            ]
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}), metadata
            )
        assert diff == []
        upgrade(database.engine)  # a second upgrade is a no-op
    finally:
        database.dispose()


def test_a_fresh_sqlite_file_is_upgraded_on_first_use(tmp_path) -> None:
    database = build_database(Settings(database_url=f"sqlite:///{tmp_path / 'new' / 'x.db'}"))
    try:
        assert current_revision(database.engine) == head_revision()
        assert database.channel().name == "default"
    finally:
        database.dispose()


def test_an_unmigrated_database_is_refused_with_the_command_to_run(blank_url: str) -> None:
    settings = Settings(database_url=blank_url, auto_migrate_sqlite=False)
    database = build_database(settings, check_schema=False)
    try:
        with pytest.raises(SchemaError, match="chatport db upgrade"):
            ensure_schema(database.engine, auto_upgrade=False)
    finally:
        database.dispose()


def test_0002_moves_job_chats_to_their_table_and_back(blank_url: str) -> None:
    from uuid import uuid4

    from alembic import command
    from sqlalchemy import text

    from chatport.store.jobs import import_jobs as jobs
    from chatport.store.migrate import _config

    database = build_database(Settings(database_url=blank_url), check_schema=False)
    job_id = uuid4()
    try:
        upgrade(database.engine, "0001")
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO import_jobs (id, tenant_id, channel_id, source, status, params,"
                    " counters, checkpoint, failed_chats, created_at, updated_at) VALUES (:id,"
                    " 1, 1, 'waha', 'failed_chats', '{}', :counters, :checkpoint, :failed,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": job_id if database.engine.dialect.name == "postgresql" else job_id.hex,
                    "counters": '{"created": 7}',
                    "checkpoint": '{"chats_done": ["a@c.us", "b@c.us"]}',
                    "failed": '{"c@c.us": "HTTP 500"}',
                },
            )
        upgrade(database.engine)
        with database.engine.connect() as connection:
            job = jobs.load_job(connection, job_id)
        assert job.chats_done == {"a@c.us", "b@c.us"}
        assert job.failed_chats == {"c@c.us": "HTTP 500"}
        assert job.counters == {"created": 7, "chats_done": 2, "chats_failed": 1}
        with database.engine.begin() as connection:
            command.downgrade(_config(connection), "0001")
        with database.engine.connect() as connection:
            checkpoint, failed = connection.execute(
                text("SELECT checkpoint, failed_chats FROM import_jobs")
            ).one()
        loaded = [
            value if isinstance(value, dict) else json.loads(value)
            for value in (checkpoint, failed)
        ]
        assert loaded == [{"chats_done": ["a@c.us", "b@c.us"]}, {"c@c.us": "HTTP 500"}]
    finally:
        database.dispose()


def test_0006_down_and_up_keeps_jobs_and_their_chats(blank_url: str) -> None:
    from datetime import UTC, datetime

    from alembic import command

    from chatport.domain.model import BatchResult
    from chatport.store.jobs import import_jobs as jobs
    from chatport.store.migrate import _config

    database = build_database(Settings(database_url=blank_url), check_schema=False)
    try:
        upgrade(database.engine)
        with database.unit_of_work() as uow:
            job = jobs.create_job(
                uow.connection,
                tenant_id=1,
                channel_id=1,
                source="waha",
                params={},
                since=None,
                until=datetime.now(UTC),
            )
            jobs.checkpoint(uow.connection, uow.ops, job, BatchResult(created=3), ["a@c.us"], {})
            uow.commit()
        with database.engine.begin() as connection:
            command.downgrade(_config(connection), "0005")
        upgrade(database.engine)
        with database.engine.connect() as connection:
            reloaded = jobs.load_job(connection, job.id)
        assert reloaded.chats_done == {"a@c.us"} and reloaded.owner is None
    finally:
        database.dispose()
