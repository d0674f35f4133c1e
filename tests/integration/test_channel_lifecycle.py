"""Channels changed and deleted, on both back ends: deleting one leaves no row of it in any
table that names a channel (every such table of the schema gets rows first), and nothing of
another channel goes; a contact only it knew goes, a shared one stays. Its settings change
through the API and the CLI (one WAHA session, one channel), and the session timeout is set
at each level: global, tenant, channel. Every API list is a page."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    LargeBinary,
    Table,
    Uuid,
    func,
    insert,
    select,
)

from chatport.bootstrap import build
from chatport.cli import main
from chatport.domain.model import Origin
from chatport.engines.cancel import delete_channel
from chatport.settings import Settings
from chatport.store import tenants
from chatport.store.channel_admin import CHANNEL_TABLES
from chatport.store.tables import channels, contacts, import_job_chats, import_jobs, metadata
from tests.builders import incoming
from tests.servers import serve_app

CHANNEL_TABLE_NAMES = {t.name for t in metadata.tables.values() if "channel_id" in t.c}


def _value(table: Table, column: Any, ids: dict[str, Any]) -> Any:
    kind = getattr(column.type, "impl", column.type)  # chatport's types decorate these
    if isinstance(kind, Uuid):
        return uuid.uuid4()
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, DateTime):
        return datetime.now(UTC)
    if isinstance(kind, Integer):
        return ids["channel_id"] * 1000 + 7
    if isinstance(kind, JSON):
        return {}
    if isinstance(kind, LargeBinary):
        return b"\x00"
    length = getattr(kind, "length", None) or 32
    return f"{table.name}-{column.name}"[:length]


def fill(connection: Any, table: Table, ids: dict[str, Any]) -> None:
    """A row of `table` with every column it needs (those named in `ids` from there)."""
    values = {}
    for column in table.columns:
        if column.name in ids:
            values[column.name] = ids[column.name]
        elif (
            column.autoincrement is True
            or column.server_default is not None
            or column.nullable
            and not column.primary_key
        ):
            continue
        else:
            values[column.name] = _value(table, column, ids)
    connection.execute(insert(table).values(values))


def counts(database: Any, channel_id: int) -> dict[str, int]:
    with database.engine.connect() as connection:
        found = {
            name: connection.execute(
                select(func.count())
                .select_from(metadata.tables[name])
                .where(metadata.tables[name].c.channel_id == channel_id)
            ).scalar_one()
            for name in sorted(CHANNEL_TABLE_NAMES)
        }
        jobs = select(import_jobs.c.id).where(import_jobs.c.channel_id == channel_id)
        found["import_job_chats"] = connection.execute(
            select(func.count()).where(import_job_chats.c.job_id.in_(jobs))
        ).scalar_one()
        found["channels"] = connection.execute(
            select(func.count()).where(channels.c.id == channel_id)
        ).scalar_one()
    return found


def test_deleting_a_channel_removes_every_row_of_it_and_nothing_else(database_url) -> None:
    assert {t.name for t in CHANNEL_TABLES} == CHANNEL_TABLE_NAMES  # a new table is purged
    services = build(Settings(database_url=database_url))
    database = services.database
    try:
        with database.unit_of_work() as uow:
            doomed = uow.create_channel("doomed")
            kept = uow.create_channel("kept")
            uow.commit()
        shared, own = "5511999990001@c.us", "5511999990002@c.us"
        written = [incoming("a1", chat=shared), incoming("a2", chat=own)]
        database.write_batch(doomed, written, origin=Origin.LIVE)
        database.write_batch(kept, [incoming("b1", chat=shared)], origin=Origin.LIVE)
        with database.unit_of_work() as uow:
            for channel in (doomed, kept):
                ids = {"channel_id": channel.id, "tenant_id": channel.tenant_id}
                job_id = uuid.uuid4()
                fill(uow.connection, import_jobs, {**ids, "id": job_id})
                fill(uow.connection, import_job_chats, {"job_id": job_id})
                for table in CHANNEL_TABLES:
                    if table is not import_jobs:
                        fill(uow.connection, table, ids)
            uow.commit()
        before = counts(database, doomed.id)
        assert all(before.values()), before  # every table has a row of the doomed channel
        kept_before = counts(database, kept.id)

        deleted = delete_channel(services, doomed.id)

        assert set(counts(database, doomed.id).values()) == {0}
        assert counts(database, kept.id) == kept_before
        assert deleted["messages"] == before["messages"] and deleted["contacts"] == 1
        with database.engine.connect() as connection:
            left = set(connection.execute(select(contacts.c.wa_id)).scalars())
        assert shared in left and own not in left
    finally:
        services.close()


@pytest.fixture
def api(database_url: str):
    services = build(Settings(database_url=database_url, session_timeout_minutes=30))
    with services.database.unit_of_work() as uow:
        acme = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "acme")[0])
        other = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "zz")[0])
        uow.commit()
    with serve_app(services) as url:
        clients = [
            httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60)
            for key in (acme, other)
        ]
        yield services, *clients
    services.close()


def test_channel_settings_change_and_the_channel_goes_over_the_api(api) -> None:
    services, acme, other = api
    waha = {"waha_url": "https://93.184.216.34", "waha_session": "one"}
    assert acme.post("/v1/channels", json={"name": "shop", **waha}).status_code == 201
    assert acme.post("/v1/channels", json={"name": "desk"}).status_code == 201
    changed = acme.patch(
        "/v1/channels/desk",
        json={
            "agent_url": "https://93.184.216.34/agent",
            "handoff_minutes": 5,
            "agent_groups": True,
        },
    )
    assert changed.status_code == 200, changed.text
    desk = changed.json()
    assert desk["has_agent"] and desk["handoff_minutes"] == 5 and desk["agent_groups"] is True
    # one WAHA session belongs to one channel, on update too
    taken = acme.patch("/v1/channels/desk", json=waha)
    assert taken.status_code == 409 and "shop" in taken.json()["detail"]
    assert acme.patch("/v1/channels/desk", json={"waha_url": "ftp://x"}).status_code == 422
    assert acme.patch("/v1/channels/desk", json={"handoff_minutes": 0}).status_code == 422
    back = acme.patch("/v1/channels/desk", json={"agent_url": None, "handoff_minutes": None})
    assert back.json()["has_agent"] is False and back.json()["handoff_minutes"] is None
    assert back.json()["agent_groups"] is True  # not named: unchanged
    assert other.patch("/v1/channels/desk", json={"handoff_minutes": 5}).status_code == 404
    assert other.delete("/v1/channels/desk").status_code == 404

    # the session timeout: global (30) -> tenant -> channel
    def timeout() -> float:
        channel = services.database.channel("desk", "acme")
        return channel.session_timeout.total_seconds() / 60

    assert timeout() == 30 and acme.get("/v1/tenant").json()["session_timeout_minutes"] is None
    assert acme.patch("/v1/tenant", json={"session_timeout_minutes": 45}).status_code == 200
    assert timeout() == 45 and other.get("/v1/tenant").json()["session_timeout_minutes"] is None
    acme.patch("/v1/channels/desk", json={"session_timeout_minutes": 10})
    assert timeout() == 10
    acme.patch("/v1/channels/desk", json={"session_timeout_minutes": None})
    acme.patch("/v1/tenant", json={"session_timeout_minutes": None})
    assert timeout() == 30

    gone = acme.delete("/v1/channels/desk")
    assert gone.status_code == 200 and gone.json()["deleted"]["channels"] == 1
    assert acme.get("/v1/channels/desk").status_code == 404
    names = [c["name"] for c in acme.get("/v1/channels").json()["items"]]
    assert names == ["shop"]


def test_every_list_is_a_page(api) -> None:
    services, acme, _ = api
    for name in ("c1", "c2", "c3"):
        assert acme.post("/v1/channels", json={"name": name}).status_code == 201
    first = acme.get("/v1/channels", params={"limit": 2}).json()
    assert [c["name"] for c in first["items"]] == ["c1", "c2"] and first["next_cursor"]
    rest = acme.get("/v1/channels", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["name"] for c in rest["items"]] == ["c3"] and rest["next_cursor"] is None
    channel = services.database.channel("c1", "acme")
    from chatport.store.jobs import import_jobs as jobs

    with services.database.unit_of_work() as uow:
        made = [
            jobs.create_job(
                uow.connection,
                tenant_id=channel.tenant_id,
                channel_id=channel.id,
                source="waha",
                params={},
                since=None,
                until=None,
            ).id
            for _ in range(3)
        ]
        uow.commit()
    seen, cursor = [], None
    while True:
        page = acme.get("/v1/imports", params={"limit": 2, "cursor": cursor}).json()
        seen += [job["id"] for job in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(str(job) for job in made) and len(seen) == 3
    assert acme.get("/v1/imports", params={"cursor": "nope"}).status_code == 400
    jobs_page = acme.get("/v1/agent-jobs", params={"limit": 1}).json()
    assert jobs_page == {"items": [], "next_cursor": None}


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run `chatport ARGS` here: its exit code and what it printed (out and err)."""
    argv = sys.argv
    sys.argv = ["chatport", *args]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    finally:
        sys.argv = argv
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def test_channels_and_tenants_from_the_cli(sqlite_url, capsys) -> None:
    db = ("--db", sqlite_url)
    url = "http://127.0.0.1:3000"
    assert (
        cli(capsys, "channels", "create", "shop", "--waha-url", url, "--waha-session", "s1", *db)[0]
        == 0
    )
    assert cli(capsys, "channels", "create", "desk", *db)[0] == 0
    assert cli(capsys, "channels", "create", "desk", *db)[0] == 2
    code, said = cli(
        capsys, "channels", "update", "desk", "--waha-url", url + "/", "--waha-session", "s1", *db
    )
    assert code == 2 and "channel 'shop' already takes WAHA session 's1'" in said
    assert cli(capsys, "channels", "update", "desk", "--waha-url", "localhost:3000", *db)[0] == 2
    assert cli(capsys, "channels", "update", "nope", "--handoff-minutes", "3", *db)[0] == 2
    assert (
        cli(
            capsys, "channels", "update", "desk", "--handoff-minutes", "3", "--no-agent-groups", *db
        )[0]
        == 0
    )
    assert (
        cli(capsys, "tenants", "update", "default", "--session-timeout-minutes", "45", *db)[0] == 0
    )
    code, said = cli(capsys, "channels", "show", "desk", "--json", *db)
    shown = json.loads(said)
    assert shown["handoff_minutes"] == 3 and shown["agent_groups"] is False
    assert shown["session_timeout_in_force"] == {"minutes": 45, "from": "tenant 'default'"}
    cli(
        capsys,
        "channels",
        "update",
        "desk",
        "--clear",
        "handoff-minutes",
        "--session-timeout-minutes",
        "5",
        *db,
    )
    shown = json.loads(cli(capsys, "channels", "show", "desk", "--json", *db)[1])
    assert shown["handoff_minutes"] is None
    assert shown["session_timeout_in_force"] == {"minutes": 5, "from": "channel"}
    assert cli(capsys, "channels", "delete", "desk", "--yes", *db)[0] == 0
    names = [c["name"] for c in json.loads(cli(capsys, "channels", "list", "--json", *db)[1])]
    assert names == ["default", "shop"]
    listed = json.loads(cli(capsys, "tenants", "list", "--json", *db)[1])
    assert listed == [{"name": "default", "session_timeout_minutes": 45}]
