"""Which channel a webhook goes to: a named-channel import records the session's own number,
and a channel created after a refused delivery is found by the next one at once."""

from __future__ import annotations

from sqlalchemy import select

from chatport.engines.inprocess.runner import run_job
from chatport.ingest.waha.import_step import WahaImport
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import ME, World
from chatport.sources.waha.client import WahaSettings
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
