"""Which channel a webhook goes to: a named-channel import records the session's own number,
and a channel created after a refused delivery is found by the next one at once."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest
from sqlalchemy import select

from chatport.cli.imports import create_waha_job
from chatport.engines.inprocess.runner import run_job
from chatport.errors import ChannelConflict, NotFoundError
from chatport.ingest.import_jobs import importer_for
from chatport.ingest.waha.import_step import WahaImport
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import ME, World
from chatport.sources.waha.client import WahaSettings
from chatport.store import tenants
from chatport.store.tables import channels, messages
from tests.integration.test_waha_import import new_job
from tests.integration.test_webhooks_api import count, delivery, inbound, post

WORLD = World(chats=5, messages=60, seed=3)


def _import_into(database, name: str, url: str) -> None:
    with database.unit_of_work() as uow:
        channel = uow.create_channel(name, waha_session="default")
        uow.commit()
    job = new_job(database, channel)
    importer = WahaImport(database, channel, job, WahaSettings(url=url))
    assert run_job(importer) == "completed"


def test_webhooks_of_a_session_imported_into_a_named_channel_reach_it(webhook_api) -> None:
    """The fresh database's `default` channel and `sales` both answer to session `default`;
    the import recorded the session's number on `sales`, which the webhooks carry."""
    url, services = webhook_api
    database = services.database
    with simulator_in_thread(SimulatorConfig(world=WORLD)) as waha:
        _import_into(database, "sales", waha)
    before = count(services, messages)
    body = delivery("message", inbound(1), "evt_sales")
    body = body.replace(b'"5511888880000@c.us"', f'"{ME}"'.encode(), 1)  # me.id of the session
    answer = post(url, body)
    assert answer.status_code == 200, answer.text
    assert count(services, messages) == before + 1
    with database.engine.connect() as connection:
        channel_of = connection.execute(
            select(channels.c.name)
            .join(messages, messages.c.channel_id == channels.c.id)
            .where(messages.c.external_id == inbound(1)["id"])
        ).scalar()
    assert channel_of == "sales"


def test_a_channel_created_after_a_refused_delivery_takes_the_next_one(webhook_api) -> None:
    url, services = webhook_api
    body = delivery("message", inbound(1), "evt_1", session="shop")
    assert post(url, body).status_code == 404
    with services.database.unit_of_work() as uow:
        uow.create_channel("shop", waha_session="shop")
        uow.commit()
    assert post(url, delivery("message", inbound(1), "evt_2", session="shop")).status_code == 200


def _without_me(body: bytes) -> bytes:
    envelope = orjson.loads(body)
    del envelope["me"]
    return orjson.dumps(envelope)


def _cli_import(services, channel: str, url: str) -> None:
    """What `chatport import waha --url URL --session default --channel CHANNEL` does."""
    job = create_waha_job(services, url, "default", None, channel, None, datetime.now(UTC), {})
    assert run_job(importer_for(services, job)) == "completed"


@pytest.mark.parametrize("me_recorded", [True, False])
def test_the_issues_scenario_a_named_channel_takes_its_sessions_webhooks(
    webhook_api, me_recorded
) -> None:
    """Issue 25: `chatport import waha … --channel sales` (session `default`) on a fresh
    database, then webhooks for session `default`: the fresh database's `default` channel
    answers to that session too, but `sales` is the one configured for a WAHA server, so
    they reach it, with or without `me` (and whether the import could read the number)."""
    url, services = webhook_api
    database = services.database
    with simulator_in_thread(SimulatorConfig(world=WORLD)) as waha:
        _cli_import(services, "sales", waha)
    if not me_recorded:  # a WAHA that did not tell the import its number
        with database.engine.begin() as connection:
            connection.execute(channels.update().values(me_id=None))
    before = count(services, messages)
    with_me = delivery("message", inbound(1), "evt_1").replace(
        b'"5511888880000@c.us"', f'"{ME}"'.encode(), 1
    )
    for n, body in enumerate((with_me, _without_me(delivery("message", inbound(2), "e2")))):
        answer = post(url, body)
        assert answer.status_code == 200, (n, answer.text)
    assert count(services, messages) == before + 2
    with database.engine.connect() as connection:
        names = connection.execute(
            select(channels.c.name)
            .join(messages, messages.c.channel_id == channels.c.id)
            .where(messages.c.external_id.in_([inbound(1)["id"], inbound(2)["id"]]))
        ).scalars()
        assert set(names) == {"sales"}


def test_one_waha_session_configured_for_two_channels_is_refused(webhook_api) -> None:
    """The configuration error is told when it is made: the CLI and the API refuse a second
    channel for one WAHA server's session (one line, exit 2; 409 with the reason); another
    WAHA server's session of the same name is another number, and fine."""
    url, services = webhook_api
    database = services.database
    now = datetime.now(UTC)
    one, other = "https://93.184.216.34/waha", "https://93.184.216.35/waha"  # public: the API
    create_waha_job(services, one, "default", None, "sales", None, now, {})
    with pytest.raises(ChannelConflict, match="channel 'sales' already takes WAHA session"):
        create_waha_job(services, f"{one.upper()}/", "default", None, "support", None, now, {})
    with database.unit_of_work() as uow, pytest.raises(NotFoundError):
        uow.channel("support")  # nothing of it was kept
    create_waha_job(services, other, "default", None, "support", None, now, {})
    create_waha_job(services, one, "default", None, "sales", None, now, {})  # itself: fine
    with database.unit_of_work() as uow:
        key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "acme")[0])
        uow.commit()
    channel = {"name": "crm", "waha_url": one, "waha_session": "default"}
    answer = httpx.post(f"{url}/v1/channels", json=channel, headers={"X-Api-Key": key})
    assert answer.status_code == 409
    assert answer.json()["detail"].startswith(
        "a channel of another tenant already takes WAHA session 'default' at"
    )
    channel["waha_session"] = "other"
    answer = httpx.post(f"{url}/v1/channels", json=channel, headers={"X-Api-Key": key})
    assert answer.status_code == 201, answer.text
