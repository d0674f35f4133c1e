"""Request bodies over CHATPORT_MAX_BODY_BYTES: 413 while they stream in, nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.sources.waha.webhooks import sign
from chatport.store.tables import dead_letters, messages
from tests.integration.test_webhooks_api import count, delivery, inbound
from tests.servers import serve_app

LIMIT = 64 * 1024
KEY = "limit-key"


@pytest.fixture
def small_api(sqlite_url: str) -> Iterator[tuple[str, object]]:
    services = build(Settings(database_url=sqlite_url, webhook_hmac_key=KEY, max_body_bytes=LIMIT))
    with serve_app(services) as url:
        yield url, services
    services.close()


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(small_api) -> None:
    url, services = small_api
    body = delivery("message", {**inbound(1), "body": "x" * (2 * LIMIT)}, "evt_big")
    answer = httpx.post(f"{url}/webhooks/waha", content=body, headers=sign(body, KEY))
    assert answer.status_code == 413
    assert "CHATPORT_MAX_BODY_BYTES" in answer.text
    assert count(services, messages) == 0 and count(services, dead_letters) == 0


def test_a_streamed_body_that_grows_past_the_limit_is_refused(small_api) -> None:
    """No Content-Length (chunked): the limit is counted as the body arrives."""
    url, services = small_api

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"{" * 4096

    answer = httpx.post(f"{url}/webhooks/waha", content=chunks(), timeout=60)
    assert answer.status_code == 413
    assert count(services, dead_letters) == 0


def test_a_body_under_the_limit_is_served(small_api) -> None:
    url, services = small_api
    body = delivery("message", inbound(1), "evt_small")
    answer = httpx.post(f"{url}/webhooks/waha", content=body, headers=sign(body, KEY))
    assert answer.status_code == 200 and count(services, messages) == 1
