"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatport.bootstrap import build
from chatport.settings import Settings
from tests.servers import serve_app

WEBHOOK_KEY = "my-secret-key"


@pytest.fixture
def webhook_api(database_url: str) -> Iterator[tuple[str, object]]:
    """The API on a free loopback port, with a global webhook key (`WEBHOOK_KEY`)."""
    services = build(Settings(database_url=database_url, webhook_hmac_key=WEBHOOK_KEY))
    with serve_app(services) as url:
        yield url, services
    services.close()
