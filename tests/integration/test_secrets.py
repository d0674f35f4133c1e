"""Channel secrets at rest (`CHATPORT_SECRET_KEY`), on both back ends: sealed in the table,
read back clear, rotated by `chatport secrets rotate`, refused with one line under a wrong key,
and still checking webhook signatures end to end."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from chatport.bootstrap import build, security_warnings
from chatport.engines.inprocess.runner import ImportRunner
from chatport.errors import SecretKeyError
from chatport.ingest import import_jobs
from chatport.services import Services
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.webhooks import sign
from chatport.store import tenants
from chatport.store.channels import remember_waha, waha_of
from chatport.store.jobs.import_jobs import finish_job, load_job
from chatport.store.reads.api import set_webhook_key
from chatport.store.reads.webhooks import webhook_key
from chatport.store.tables import channels, contacts
from tests.servers import serve_app

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


@contextmanager
def services_with(database_url: str, secret_key: str | None, **settings) -> Iterator[Services]:
    """Services with `secret_key`; the tests' WAHA and agents are on loopback (allowed)."""
    settings.setdefault("allow_private_urls", True)
    services = build(Settings(database_url=database_url, secret_key=secret_key, **settings))
    try:
        yield services
    finally:
        services.close()


def store_secrets(services: Services, api_key: str, hmac_key: str) -> int:
    """The default channel given a WAHA key and a webhook key; its id."""
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:
        url = "http://waha.invalid"
        remember_waha(uow.connection, channel, url, "default", api_key, secrets=database.secrets)
        set_webhook_key(uow.connection, channel.id, hmac_key, secrets=database.secrets)
        uow.commit()
    return channel.id


def read_secrets(services: Services, channel_id: int) -> tuple[str | None, str | None]:
    database = services.database
    with database.engine.connect() as connection:
        api_key = waha_of(connection, channel_id, secrets=database.secrets)[2]
        return api_key, webhook_key(connection, channel_id, secrets=database.secrets)


def raw_secrets(services: Services) -> list[str]:
    """Every secret stored, as the table holds it."""
    query = select(channels.c.waha_api_key, channels.c.webhook_hmac_key)
    with services.database.engine.connect() as connection:
        return [value for row in connection.execute(query) for value in row if value is not None]


def chatport(database_url: str, secret_key: str | None, *args: str) -> subprocess.CompletedProcess:
    """The `chatport` command line in a process of its own, with that CHATPORT_SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k != "CHATPORT_SECRET_KEY"}
    if secret_key is not None:
        env["CHATPORT_SECRET_KEY"] = secret_key
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from chatport.cli import main; main()",
            *args,
            "--db",
            database_url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_channel_secrets_are_not_stored_in_clear_and_read_back_right(database_url):
    with services_with(database_url, KEY_A) as services:
        channel_id = store_secrets(services, "waha-api-key-1", "hmac-key-1")
        stored = raw_secrets(services)
        assert len(stored) == 2
        assert all(value.startswith("fernet:") for value in stored)
        assert not any("waha-api-key-1" in value or "hmac-key-1" in value for value in stored)
        assert read_secrets(services, channel_id) == ("waha-api-key-1", "hmac-key-1")
    with (
        services_with(database_url, None) as services,  # the key is needed to read them
        pytest.raises(SecretKeyError, match="CHATPORT_SECRET_KEY is not set"),
    ):
        read_secrets(services, channel_id)


def test_rotation_to_a_new_key_rewrites_every_secret_so_the_new_key_alone_reads_them(
    database_url,
):
    with services_with(database_url, KEY_A) as services:
        channel_id = store_secrets(services, "waha-api-key-1", "hmac-key-1")
        with services.database.unit_of_work() as uow:
            other = uow.create_channel("other")
            uow.commit()
        store_other = services.database
        with store_other.unit_of_work() as uow:
            set_webhook_key(uow.connection, other.id, "hmac-key-2", secrets=store_other.secrets)
            uow.commit()
        before = raw_secrets(services)

    rotated = chatport(database_url, f"{KEY_B},{KEY_A}", "secrets", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert orjson.loads(rotated.stdout) == {"rewritten": 3, "stored": 3}
    again = chatport(database_url, f"{KEY_B},{KEY_A}", "secrets", "rotate")
    assert again.returncode == 0, again.stderr
    assert "re-encrypted 0 of 3 stored secrets" in again.stdout

    with services_with(database_url, KEY_B) as services:
        after = raw_secrets(services)
        assert len(after) == 3 and not set(after) & set(before)
        assert all(value.startswith("fernet:") for value in after)
        assert read_secrets(services, channel_id) == ("waha-api-key-1", "hmac-key-1")
        assert read_secrets(services, other.id) == (None, "hmac-key-2")
    with (
        services_with(database_url, KEY_A) as services,  # the old key no longer opens them
        pytest.raises(SecretKeyError, match="CHATPORT_SECRET_KEY"),
    ):
        read_secrets(services, channel_id)


def test_clear_secrets_from_before_the_key_still_read_and_rotation_encrypts_them(database_url):
    with services_with(database_url, None) as services:
        channel_id = store_secrets(services, "waha-api-key-1", "hmac-key-1")
        assert sorted(raw_secrets(services)) == ["hmac-key-1", "waha-api-key-1"]
    with services_with(database_url, KEY_A) as services:
        assert read_secrets(services, channel_id) == ("waha-api-key-1", "hmac-key-1")

    rotated = chatport(database_url, KEY_A, "secrets", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 2 of 2 stored secrets" in rotated.stdout

    with services_with(database_url, KEY_A) as services:
        stored = raw_secrets(services)
        assert len(stored) == 2 and all(value.startswith("fernet:") for value in stored)
        assert read_secrets(services, channel_id) == ("waha-api-key-1", "hmac-key-1")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # as on PostgreSQL
def test_a_wrong_or_missing_key_is_one_line_exit_2_and_changes_nothing(database_url):
    with services_with(database_url, KEY_A) as services:
        store_secrets(services, "waha-api-key-1", "hmac-key-1")
        before = sorted(raw_secrets(services))
    for key, reason in (
        (KEY_C, "cannot be decrypted with any key of CHATPORT_SECRET_KEY"),
        (f"{KEY_C},{KEY_B}", "cannot be decrypted with any key of CHATPORT_SECRET_KEY"),
        (None, "CHATPORT_SECRET_KEY is not set"),
        ("not-a-key", "CHATPORT_SECRET_KEY: key 1 of 1 is not a Fernet key"),
    ):
        refused = chatport(database_url, key, "secrets", "rotate")
        assert refused.returncode == 2, (key, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("error: ") and reason in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    with services_with(database_url, KEY_A) as services:
        assert sorted(raw_secrets(services)) == before


def test_an_import_resumed_under_a_wrong_key_fails_with_the_reason_instead_of_hanging(
    database_url,
):
    with services_with(database_url, KEY_A) as services:
        store_secrets(services, "waha-api-key-1", "hmac-key-1")
        database = services.database
        job = import_jobs.create_job(database, database.channel(), None, datetime.now(UTC), {})
        with database.unit_of_work() as uow:
            finish_job(uow.connection, job, "interrupted", "stopped")
            uow.commit()
    with services_with(database_url, KEY_C) as services:
        database = services.database
        job = import_jobs.reopen(database, str(job.id))
        runner = ImportRunner(services)
        runner.start(job)
        deadline = time.monotonic() + 20
        while runner.running(job.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        with database.engine.connect() as connection:
            stored = load_job(connection, str(job.id))
    assert stored.status == "failed" and "CHATPORT_SECRET_KEY" in stored.error


def _signed_delivery(n: int, key: str | None) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(
        {
            "id": f"evt_{n}",
            "event": "message",
            "session": "shop",
            "payload": {
                "id": f"false_5511999990001@c.us_M{n:05d}",
                "timestamp": 1741249700 + n,
                "from": "5511999990001@c.us",
                "fromMe": False,
                "body": f"message {n}",
            },
        }
    )
    return body, (sign(body, key) if key else {}) | {"content-type": "application/json"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # as on PostgreSQL
def test_webhook_signatures_are_checked_with_an_encrypted_channel_key_end_to_end(database_url):
    post = "/webhooks/waha"
    with services_with(database_url, KEY_A, webhook_hmac_key="global-key") as services:
        with services.database.unit_of_work() as uow:
            tenant, _ = tenants.ensure_tenant(uow.connection, "acme")
            api_key = tenants.create_key(uow.connection, tenant, "test")
            uow.commit()
        with serve_app(services) as url:
            created = httpx.post(
                f"{url}/v1/channels",
                json={
                    "name": "shop",
                    "waha_url": "http://waha.invalid",
                    "waha_api_key": "wk-1",
                    "webhook_hmac_key": "shop-hook",
                },
                headers={"X-Api-Key": api_key},
            )
            assert created.status_code == 201 and created.json()["webhook_signed"] is True
            params = {"channel": "shop", "tenant": "acme"}
            for n, key, status in ((1, "shop-hook", 200), (2, "global-key", 401), (3, None, 401)):
                body, headers = _signed_delivery(n, key)
                answer = httpx.post(f"{url}{post}", content=body, headers=headers, params=params)
                assert answer.status_code == status, (key, answer.text)
        query = select(channels.c.waha_api_key, channels.c.webhook_hmac_key).where(
            channels.c.name == "shop"
        )
        with services.database.engine.connect() as connection:
            sealed = connection.execute(query).one()
        assert all(value.startswith("fernet:") for value in sealed)
        assert "shop-hook" not in sealed.webhook_hmac_key and "wk-1" not in sealed.waha_api_key

    for n, wrong in ((4, KEY_C), (6, None)):  # the channel's key cannot be read: 503, logged
        with (
            services_with(database_url, wrong, webhook_hmac_key="global-key") as services,
            serve_app(services) as url,
        ):
            body, headers = _signed_delivery(n, "shop-hook")
            answer = httpx.post(f"{url}{post}", content=body, headers=headers, params=params)
            assert answer.status_code == 503, answer.text
            assert "cannot be read" in answer.json()["detail"]
            body, headers = _signed_delivery(n + 1, "global-key")  # other channels: as before
            other = httpx.post(
                f"{url}{post}", content=body, headers=headers, params={"channel": "default"}
            )
            assert other.status_code == 200 and other.json() == {"outcome": "stored"}


def test_the_live_writer_process_opens_an_encrypted_waha_key_for_its_lid_lookups(database_url):
    world = World(chats=4, messages=40, seed=9)
    lid, phone = world.lids[0]
    with (
        services_with(database_url, KEY_A) as services,
        simulator_in_thread(SimulatorConfig(world=world, api_key="waha-key")) as waha_url,
        serve_app(services) as url,
    ):
        database = services.database
        channel = database.channel()
        with database.unit_of_work() as uow:
            remember_waha(
                uow.connection, channel, waha_url, "default", "waha-key", secrets=database.secrets
            )
            uow.commit()
        assert raw_secrets(services)[0].startswith("fernet:")
        payload = {"id": f"false_{lid}_L1", "timestamp": 1741249701, "from": lid, "body": "hi"}
        body = orjson.dumps(
            {"id": "e1", "event": "message", "session": "default", "payload": payload}
        )
        answer = httpx.post(
            f"{url}/webhooks/waha", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200, answer.text
        query = select(contacts.c.wa_id, contacts.c.lid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # WAHA answers the lookup only with its API key
            with database.engine.connect() as connection:
                people = [tuple(row) for row in connection.execute(query)]
            if people == [(phone, lid)]:
                break
            time.sleep(0.05)
        assert people == [(phone, lid)]


def test_serve_warns_about_clear_secrets_and_unsigned_webhooks(database_url, caplog):
    caplog.set_level(logging.WARNING, logger="chatport.bootstrap")
    with services_with(database_url, None) as services:
        warnings = security_warnings(services)
        assert len(warnings) == 2
        assert "CHATPORT_SECRET_KEY is not set" in warnings[0]
        assert "unsigned webhooks are accepted" in warnings[1]
        assert [record.getMessage() for record in caplog.records] == warnings
        with services.database.engine.begin() as connection:
            connection.execute(update(channels).values(webhook_hmac_key="a-channel-key"))
    with services_with(database_url, KEY_A) as services:
        assert security_warnings(services) == []
    with services_with(database_url, KEY_A, webhook_hmac_key="global") as services:
        with services.database.engine.begin() as connection:
            connection.execute(update(channels).values(webhook_hmac_key=None))
        assert security_warnings(services) == []
