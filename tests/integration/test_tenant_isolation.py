"""Two tenants, on both back ends: every API route and console page that takes an id answers
404 when the id is the other tenant's (a channel, a chat, an import job, an agent job), as for
one that does not exist, while its owner gets it; lists show only one's own. The table covers
every route the app has: a new route without a row here fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from chatport.api.app import create_app
from chatport.bootstrap import Services, build
from chatport.ingest import import_jobs
from chatport.settings import Settings
from chatport.store import tenants
from chatport.store.channels import remember_waha
from chatport.store.tables import agent_jobs
from tests.integration.test_agent_delivery import burst_with_job
from tests.integration.test_bursts import CHAT
from tests.servers import serve_app

OWNER, OTHER = "default", "globex"
EXEMPT = {
    ("POST", "/webhooks/baileys/{channel}"),  # signed pushes, not a tenant's API
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/v1/channels"),  # creates; takes no id
    ("GET", "/v1/tenant"),  # the key's own tenant; takes no id
    ("PATCH", "/v1/tenant"),
}


@pytest.fixture
def two_tenants(database_url: str) -> Iterator[tuple[str, dict[str, str], Services, dict]]:
    """The API; the owner's channels `default` (a chat, an agent job, an import job) and
    `owners-only`; the other tenant's own empty `default`."""
    services = build(Settings(database_url=database_url))
    keys = {}
    with services.database.unit_of_work() as uow:
        for name in (OWNER, OTHER):
            tenant, _ = tenants.ensure_tenant(uow.connection, name)
            keys[name] = tenants.create_key(uow.connection, tenant, "isolation")
        uow.commit()
    burst_with_job(services, "python:tests.integration.test_agent_delivery:echo_agent")
    database = services.database
    channel = database.channel()
    with database.unit_of_work() as uow:  # a WAHA nobody answers: the job stays as created
        remember_waha(
            uow.connection, channel, "http://127.0.0.1:9", "default", None, secrets=database.secrets
        )
        uow.commit()
    job = import_jobs.create_job(database, channel, None, datetime.now(UTC), {})
    with database.engine.connect() as connection:
        agent_job = connection.execute(select(agent_jobs.c.id)).scalar_one()
    ids = {"job": str(job.id), "agent_job": str(agent_job)}
    try:
        with serve_app(services) as url:
            for name, channel in ((OWNER, "owners-only"), (OTHER, "default")):
                made = httpx.post(
                    f"{url}/v1/channels", json={"name": channel}, headers={"X-Api-Key": keys[name]}
                )
                assert made.status_code == 201, made.text
            yield url, keys, services, ids
    finally:
        services.close()


def api_routes(routes) -> Iterator[APIRoute]:
    """Every FastAPI route of the app, those of included routers too (FastAPI may keep an
    included router as one entry of `app.routes`)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def api(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=60)


def console(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, headers={"Origin": url}, timeout=60)
    assert client.post("/login", data={"api_key": key}).status_code == 303
    return client


def requests_by_route(ids: dict) -> dict[tuple[str, str], list[tuple[str, dict]]]:
    """For each route: requests naming the owner's things (path, and a JSON body or query)."""
    job, agent_job = ids["job"], ids["agent_job"]
    mine = f"/channels/default/chats/{CHAT}"
    return {
        ("GET", "/v1/channels/{channel}"): [("/v1/channels/owners-only", {})],
        ("PATCH", "/v1/channels/{channel}"): [
            ("/v1/channels/owners-only", {"json": {"handoff_minutes": 5}})
        ],
        ("DELETE", "/v1/channels/{channel}"): [("/v1/channels/owners-only", {})],
        ("GET", "/v1/channels/{channel}/chats"): [("/v1/channels/owners-only/chats", {})],
        ("GET", "/v1/channels/{channel}/chats/{chat_id}/messages"): [(f"/v1{mine}/messages", {})],
        ("GET", "/v1/channels/{channel}/chats/{chat_id}/sessions"): [
            (f"/v1{mine}/sessions", {}),
        ],
        ("POST", "/v1/channels/{channel}/chats/{chat_id}/read"): [(f"/v1{mine}/read", {})],
        ("GET", "/v1/channels/{channel}/chats/{chat_id}/bot"): [(f"/v1{mine}/bot", {})],
        ("POST", "/v1/channels/{channel}/chats/{chat_id}/messages"): [
            (f"/v1{mine}/messages", {"json": {"text": "hi"}})
        ],
        ("PUT", "/v1/channels/{channel}/chats/{chat_id}/bot"): [
            (f"/v1{mine}/bot", {"json": {"mode": "off"}})
        ],
        ("POST", "/v1/channels/{channel}/chats/{chat_id}/messages/{message_id}/retry"): [
            (f"/v1{mine}/messages/bubble0/retry", {})
        ],
        ("GET", "/v1/events"): [("/v1/events", {"params": {"channel": "owners-only"}})],
        ("POST", "/v1/channels/{channel}/imports"): [
            ("/v1/channels/owners-only/imports", {"json": {}})
        ],
        ("POST", "/v1/channels/{channel}/catch-up"): [("/v1/channels/owners-only/catch-up", {})],
        ("GET", "/v1/imports/{job_id}"): [(f"/v1/imports/{job}", {})],
        ("POST", "/v1/imports/{job_id}/retry"): [(f"/v1/imports/{job}/retry", {})],
        ("POST", "/v1/imports/{job_id}/cancel"): [(f"/v1/imports/{job}/cancel", {})],
        ("POST", "/v1/imports/{job_id}/resume"): [(f"/v1/imports/{job}/resume", {})],
        ("GET", "/v1/imports/{job_id}/progress"): [(f"/v1/imports/{job}/progress", {})],
        ("GET", "/v1/agent-jobs/{job_id}"): [(f"/v1/agent-jobs/{agent_job}", {})],
        ("POST", "/api/agent-jobs/{job_id}/reply"): [
            (f"/api/agent-jobs/{agent_job}/reply", {"json": {"reply": "hi"}})
        ],
        ("GET", "/channels/{channel}"): [("/channels/owners-only", {})],
        ("GET", "/channels/{channel}/settings"): [("/channels/owners-only/settings", {})],
        ("POST", "/channels/{channel}/settings"): [
            ("/channels/owners-only/settings", {"data": {"handoff_minutes": "5"}})
        ],
        ("GET", "/channels/{channel}/delete"): [("/channels/owners-only/delete", {})],
        ("POST", "/channels/{channel}/delete"): [
            ("/channels/owners-only/delete", {"data": {"confirm": "owners-only"}})
        ],
        ("GET", "/channels/{channel}/chats/{chat_id}"): [(mine, {})],
        ("POST", "/channels/{channel}/chats/{chat_id}/read"): [(f"{mine}/read", {})],
        ("POST", "/channels/{channel}/chats/{chat_id}/messages"): [
            (f"{mine}/messages", {"data": {"text": "hi"}})
        ],
        ("GET", "/channels/{channel}/chats/{chat_id}/events"): [(f"{mine}/events", {})],
        ("GET", "/channels/{channel}/events"): [("/channels/owners-only/events", {})],
        ("POST", "/channels/{channel}/chats/{chat_id}/bot"): [
            (f"{mine}/bot", {"data": {"mode": "off"}})
        ],
        ("POST", "/channels/{channel}/chats/{chat_id}/messages/{message_id}/retry"): [
            (f"{mine}/messages/bubble0/retry", {})
        ],
        ("POST", "/channels/{channel}/imports"): [("/channels/owners-only/imports", {})],
        ("POST", "/channels/{channel}/catch-up"): [("/channels/owners-only/catch-up", {})],
        ("GET", "/imports/{job_id}"): [(f"/imports/{job}", {})],
        ("GET", "/imports/{job_id}/events"): [(f"/imports/{job}/events", {})],
        ("POST", "/imports/{job_id}/retry"): [(f"/imports/{job}/retry", {})],
        ("POST", "/imports/{job_id}/cancel"): [(f"/imports/{job}/cancel", {})],
        ("POST", "/imports/{job_id}/resume"): [(f"/imports/{job}/resume", {})],
    }


LIVE = {  # event streams that never end while the page is open: the owner's are not read here
    "/channels/{channel}/chats/{chat_id}/events",
    "/channels/{channel}/events",
}
LISTS = {  # routes without ids: the other tenant's list shows none of the owner's things
    ("GET", "/v1/channels"): "owners-only",
    ("GET", "/v1/channels/{channel}/chats"): CHAT,
    ("GET", "/v1/contacts"): CHAT.split("@")[0],
    ("GET", "/v1/events"): CHAT,
    ("GET", "/v1/imports"): "{job}",
    ("GET", "/v1/agent-jobs"): "{agent_job}",
    ("GET", "/"): "owners-only",
    ("GET", "/imports"): "{job}",
    ("GET", "/agent-jobs"): "I want",  # a bubble of the burst
}


def test_another_tenants_ids_answer_404_on_every_route_and_page(two_tenants) -> None:
    url, keys, services, ids = two_tenants
    routes = {
        (method, route.path)
        for route in api_routes(create_app(services).routes)
        for method in route.methods
    }
    table = requests_by_route(ids)
    assert routes - EXEMPT == set(table) | set(LISTS), "a route without an isolation check"

    clients = {name: (api(url, keys[name]), console(url, keys[name])) for name in (OWNER, OTHER)}

    def call(name: str, method: str, template: str, path: str, options: dict):
        rest, pages = clients[name]
        client = rest if template.startswith(("/v1", "/api")) else pages
        return client.request(method, path, **options)

    for (method, template), calls in table.items():
        for path, options in calls:
            answer = call(OTHER, method, template, path, options)
            assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
    for (method, template), secret in LISTS.items():
        path = template.replace("{channel}", "default")
        shown = call(OTHER, method, template, path, {})
        assert shown.status_code == 200, (path, shown.text)
        assert secret.format(**ids) not in shown.text, path
        assert secret.format(**ids) in call(OWNER, method, template, path, {}).text, path
    for (method, template), calls in table.items():  # the ids are real: the owner reads them
        for path, options in calls:
            if method == "GET" and template not in LIVE:
                answer = call(OWNER, method, template, path, options)
                assert answer.status_code == 200, (method, path, answer.text)
