"""A tenant's URLs over the API, on both back ends (design 2.5): in-process agents and
non-public hosts are refused with 422 and the reason unless the operator allows private
networks (`CHATPORT_ALLOW_PRIVATE_URLS`), and a stored WAHA URL that leads to loopback when
an import connects (DNS rebinding) gets no request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from chatport.store.channels import remember_waha
from tests.servers import serve_app

PRIVATE = [
    "http://127.0.0.1:9/agent",
    "http://localhost:3000",
    "http://[::1]:3000/",
    "http://0.0.0.0:3000/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]:3000/",
    "http://10.0.0.5/",
    "https://192.168.0.10/agent",
]


def api(database_url: str, **settings) -> Iterator[tuple[httpx.Client, object]]:
    services = build(Settings(database_url=database_url, **settings))
    with services.database.unit_of_work() as uow:
        key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "acme")[0])
        uow.commit()
    with serve_app(services) as url:
        yield httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60), services
    services.close()


@pytest.fixture
def acme(database_url: str) -> Iterator[tuple[httpx.Client, object]]:
    """The API with the defaults (private URLs not allowed), and tenant acme's client."""
    yield from api(database_url)


@pytest.fixture
def self_hosted(database_url: str) -> Iterator[tuple[httpx.Client, object]]:
    """The API of an operator who allows private URLs."""
    yield from api(database_url, allow_private_urls=True)


def test_a_tenant_may_not_name_an_in_process_agent(acme, self_hosted) -> None:
    for client, _ in (acme, self_hosted):
        for agent in ("python:sys:exit", "python:os:system"):
            refused = client.post("/v1/channels", json={"name": "shop", "agent_url": agent})
            assert refused.status_code == 422, refused.text
            assert "in-process agents (python:module:function)" in refused.text
        assert client.get("/v1/channels").json()["items"] == []


@pytest.mark.parametrize("field", ["agent_url", "waha_url"])
def test_urls_to_private_networks_and_other_schemes_are_refused(acme, field) -> None:
    client, _ = acme
    for url in PRIVATE:
        refused = client.post("/v1/channels", json={"name": "shop", field: url})
        assert refused.status_code == 422, (url, refused.text)
        detail = refused.json()["detail"]
        assert detail.startswith(f"{field}: ") and "must lead to public addresses" in detail
    for url in ("ftp://93.184.216.34/", "javascript:alert(1)", "//93.184.216.34/"):
        refused = client.post("/v1/channels", json={"name": "shop", field: url})
        assert refused.status_code == 422 and "http:// or https://" in refused.text, url
    assert client.get("/v1/channels").json()["items"] == []
    public = client.post("/v1/channels", json={"name": "shop", field: "https://93.184.216.34/x"})
    assert public.status_code == 201, public.text


def test_the_operator_may_allow_private_urls(self_hosted) -> None:
    client, _ = self_hosted
    for n, url in enumerate(PRIVATE):
        channel = {"name": f"shop{n}", "agent_url": url, "waha_url": url}
        assert client.post("/v1/channels", json=channel).status_code == 201, url


def test_an_import_does_not_connect_to_a_waha_url_that_now_leads_to_loopback(acme) -> None:
    """The channel's stored URL names a host that resolves to loopback when the import
    connects (as a name checked earlier and rebound since would): refused, nothing sent, no
    job."""
    client, services = acme
    config = SimulatorConfig(world=World(chats=3, messages=30, seed=2))
    with simulator_in_thread(config) as waha:
        assert client.post("/v1/channels", json={"name": "shop"}).status_code == 201
        database = services.database
        with database.unit_of_work() as uow:
            channel = uow.channel("shop", "acme")
            rebound = waha.replace("127.0.0.1", "localhost")
            remember_waha(
                uow.connection, channel, rebound, "default", None, secrets=database.secrets
            )  # a tenant's URL
            uow.commit()
        started = client.post("/v1/channels/shop/imports", json={})
    assert started.status_code == 422, started.text  # at the first contact: no job is left
    refusal = started.json()["detail"]
    assert "localhost resolves to" in refusal and "a loopback address" in refusal
    assert client.get("/v1/imports").json()["items"] == []
    assert config.faults.requests == 0
