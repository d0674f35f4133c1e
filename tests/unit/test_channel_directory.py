"""The webhook route's channel directory: one lookup per channel at a time, and an expired
entry answers while it is refreshed."""

from __future__ import annotations

import asyncio
import threading
import time

from chatport.api.directory import ChannelDirectory, Target
from chatport.sources.waha.webhooks import parse_envelope

ENVELOPE = parse_envelope(
    b'{"id": "e1", "event": "session.status", "session": "default",'
    b' "payload": {"name": "default", "status": "WORKING"}}'
)


class CountingDirectory(ChannelDirectory):
    def __init__(self, ttl: float) -> None:
        super().__init__(None, create_unknown=False, ttl=ttl)  # type: ignore[arg-type]
        self.lookups = 0
        self.release = threading.Event()

    def _lookup(self, session, me_id, name, tenant, create):
        self.lookups += 1
        self.release.wait(5)
        return Target(channel=f"channel {self.lookups}", hmac_key=None)  # type: ignore[arg-type]


def test_concurrent_deliveries_share_one_lookup_and_expiry_does_not_stall_them() -> None:
    async def scenario() -> None:
        directory = CountingDirectory(ttl=0.05)
        waiting = [asyncio.create_task(directory.find(ENVELOPE, None, "t")) for _ in range(20)]
        await asyncio.sleep(0.05)
        directory.release.set()
        targets = await asyncio.gather(*waiting)
        assert directory.lookups == 1 and {t.channel for t in targets} == {"channel 1"}

        directory.release.clear()
        time.sleep(0.06)  # expired: answered from the cache while one refresh runs
        answers = [await directory.find(ENVELOPE, None, "t") for _ in range(20)]
        assert {t.channel for t in answers} == {"channel 1"}
        directory.release.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if (await directory.find(ENVELOPE, None, "t")).channel == "channel 2":
                break
        assert directory.lookups == 2

    asyncio.run(scenario())
