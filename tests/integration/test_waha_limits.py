"""The WAHA client's limits come from the settings (`CHATPORT_WAHA_TIMEOUT_SECONDS`,
`…_RETRY_ATTEMPTS`, `…_RETRY_MAX_SECONDS`), for every import a job runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from chatport.bootstrap import build
from chatport.errors import WahaUnavailable
from chatport.ingest import import_jobs
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.sources.waha.client import WahaClient
from chatport.store import channels

WORLD = World(chats=3, messages=40, seed=9)


def test_an_import_job_reaches_waha_within_the_configured_limits(sqlite_url: str) -> None:
    failing = WORLD.chats[0].id
    config = SimulatorConfig(WORLD, faults=Faults(failing_chats={failing}))
    settings = Settings(
        database_url=sqlite_url,
        waha_timeout_seconds=7,
        waha_retry_attempts=2,
        waha_retry_max_seconds=0.05,
    )
    services = build(settings)
    try:
        with simulator_in_thread(config) as url:
            channel = services.database.channel()
            with services.database.unit_of_work() as uow:
                where = (uow.connection, channel, url, "default", None)
                channels.remember_waha(*where, trusted=True, secrets=services.database.secrets)
                uow.commit()
            job = import_jobs.create_job(services.database, channel, None, datetime.now(UTC), {})
            _, waha = import_jobs.waha_of_job(services, job)
            assert (waha.timeout_seconds, waha.attempts, waha.max_backoff_seconds) == (7, 2, 0.05)

            async def read() -> None:
                async with WahaClient(waha) as client:
                    async for _ in client.messages(failing):
                        pass

            with pytest.raises(WahaUnavailable, match=r"\(after 2 attempts\)"):
                asyncio.run(read())
            assert config.faults.requests == 2  # the first attempt and one retry
    finally:
        services.close()
