"""Liveness, readiness, and 503 with Retry-After while the database is gone."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.sources.waha.webhooks import sign
from chatport.store import tenants
from chatport.store.migrate import HEAD_REVISION
from tests.servers import serve_app

KEY = "my-secret-key"
DELIVERY = (
    b'{"id": "evt_1", "timestamp": 1741249702485, "event": "message", "session": "default",'
    b' "engine": "NOWEB", "payload": {"id": "false_5511999990001@c.us_AAA",'
    b' "timestamp": 1741249700, "from": "5511999990001@c.us", "fromMe": false, "body": "hi"}}'
)


def unavailable(answer: httpx.Response) -> bool:
    return answer.status_code == 503 and answer.headers.get("retry-after") == "5"


def test_a_server_whose_database_is_dropped_answers_503_with_retry_after(
    postgres_admin_url: str, postgresql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    services = build(Settings(database_url=postgresql_url, webhook_hmac_key=KEY))
    with services.database.unit_of_work() as uow:
        api_key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "t")[0])
        uow.commit()
    signed = sign(DELIVERY, KEY) | {"content-type": "application/json"}
    try:
        with serve_app(services) as url, httpx.Client(base_url=url, timeout=30) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "ready",
                "database": "postgresql",
                "revision": HEAD_REVISION,
            }
            name = postgresql_url.rsplit("/", 1)[1]
            with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE {name} WITH (FORCE)")

            ready = http.get("/readyz")
            assert unavailable(ready) and "unreachable" in ready.json()["detail"]
            assert unavailable(http.post("/webhooks/waha", content=DELIVERY, headers=signed))
            assert unavailable(http.get("/v1/channels", headers={"X-Api-Key": api_key}))
            assert http.get("/healthz").json() == {"status": "ok", "database": "postgresql"}
    finally:
        services.close()
    said = [r for r in caplog.records if "the database is unavailable" in r.getMessage()]
    assert said and all(record.exc_info is None for record in said)  # one line, no traceback
