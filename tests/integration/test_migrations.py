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


def test_0013_keys_existing_messages_and_makes_aliases_one_row(blank_url: str) -> None:
    """Rows stored before message keys: each gets its key; the two rows one message had
    under two aliases (WAHA's `…@lid_…` id and Baileys' `…@c.us_…`, both moved to the phone
    chat) become the older one, with the states of both; sessions and previews follow."""
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    from alembic import command
    from sqlalchemy import Boolean, Integer, String, Uuid, column, func, insert, table
    from sqlalchemy.exc import IntegrityError

    from chatport.store.column_types import UtcDateTime
    from chatport.store.migrate import _config
    from chatport.store.tables import chats, messages, sessions

    lid, phone, group = "9000000003@lid", "5511900000003@c.us", "120363000000000077@g.us"
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    old_messages = table(
        "messages",
        *(column(name, Integer()) for name in ("id", "tenant_id", "channel_id", "ack")),
        *(column(name, String()) for name in ("external_id", "chat_id", "content_type")),
        *(column(name, String()) for name in ("text", "origin")),
        column("session_id", Uuid()),
        column("from_me", Boolean()),
        column("sent_at", UtcDateTime()),
        column("created_at", UtcDateTime()),
        column("revoked_at", UtcDateTime()),
    )
    shared, alone, other = uuid4(), uuid4(), uuid4()
    stored = [  # id, external id, chat, session, minutes, from_me, ack, revoked
        (1, f"false_{phone}_W1", phone, shared, 0, False, None, True),
        (2, f"false_{lid}_W1", phone, alone, 2, False, 3, False),
        (3, f"false_{phone}_W2", phone, shared, 1, False, None, False),
        (4, f"false_{group}_W3_{lid}", group, other, 0, False, None, False),
        (5, "export-0123abcd", phone, shared, 1, True, None, False),
        (6, f"true_{lid}_W4", lid, other, 0, True, None, False),
    ]
    database = build_database(Settings(database_url=blank_url), check_schema=False)
    try:
        upgrade(database.engine, "0011")
        with database.engine.begin() as connection:
            for row_id, external_id, chat, session, minutes, from_me, ack, revoked in stored:
                at = t0 + timedelta(minutes=minutes)
                connection.execute(
                    insert(old_messages).values(
                        id=row_id,
                        tenant_id=1,
                        channel_id=1,
                        external_id=external_id,
                        chat_id=chat,
                        session_id=session,
                        sent_at=at,
                        from_me=from_me,
                        content_type="text",
                        text=f"m{row_id}",
                        origin="import",
                        created_at=at,
                        ack=ack,
                        revoked_at=at if revoked else None,
                    )
                )
            for session, count in ((shared, 3), (alone, 1), (other, 2)):
                connection.execute(
                    insert(sessions).values(
                        id=session,
                        tenant_id=1,
                        channel_id=1,
                        chat_id=phone,
                        started_at=t0,
                        last_activity_at=t0 + timedelta(minutes=2),
                        message_count=count,
                        status="closed",
                        created_at=t0,
                        updated_at=t0,
                    )
                )
            connection.execute(
                insert(chats).values(
                    tenant_id=1,
                    channel_id=1,
                    chat_id=phone,
                    is_group=False,
                    last_message_id=f"false_{lid}_W1",
                    unread_count=0,
                    created_at=t0,
                    updated_at=t0,
                )
            )
        upgrade(database.engine)
        with database.engine.connect() as connection:
            keyed = connection.execute(
                select(messages.c.id, messages.c.message_key, messages.c.ack).order_by("id")
            ).all()
            revoked = connection.execute(
                select(messages.c.revoked_at).where(messages.c.id == 1)
            ).scalar_one()
            spans = connection.execute(
                select(sessions.c.id, sessions.c.message_count, sessions.c.last_activity_at)
            ).all()
            preview = connection.execute(select(chats.c.last_message_id)).scalar_one()
        assert [tuple(row) for row in keyed] == [
            (1, f"false_{phone}_W1", 3),  # the older of the two, acked as the other was
            (3, f"false_{phone}_W2", None),
            (4, f"false_{group}_W3", None),
            (5, "export-0123abcd", None),
            (6, f"true_{lid}_W4", None),
        ]
        assert revoked == t0
        assert {(s.id, s.message_count, s.last_activity_at) for s in spans} == {
            (shared, 3, t0 + timedelta(minutes=1)),  # read again: it holds the kept row
            (other, 2, t0 + timedelta(minutes=2)),  # untouched
        }
        assert preview == f"false_{phone}_W1"
        one_key_one_row = pytest.raises(IntegrityError, match="message_key")
        with one_key_one_row, database.engine.begin() as connection:
            connection.execute(
                insert(messages).values(
                    tenant_id=1,
                    channel_id=1,
                    external_id=f"false_{phone}_W2_{lid}",
                    message_key=f"false_{phone}_W2",
                    chat_id=phone,
                    session_id=shared,
                    sent_at=t0,
                    from_me=False,
                    content_type="text",
                    origin="live",
                    created_at=t0,
                ),
            )
        with database.engine.begin() as connection:  # and back, and up again
            command.downgrade(_config(connection), "0011")
        upgrade(database.engine)
        with database.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(messages)).scalar() == 5
    finally:
        database.dispose()
