"""What a deliverer finds due in the database: agent jobs, and outbound messages whose send
is due again; claimed within its bounds, released when it stops."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chatport.store.database import Database
from chatport.store.jobs import agent_jobs, outbound


class DeliveryQueue:
    """Claims for one deliverer: leases of `lease`, at most `per_channel` of one channel."""

    def __init__(self, database: Database, lease: timedelta, per_channel: int) -> None:
        self.database = database
        self.lease = lease
        self.per_channel = per_channel

    def next_due(self, full: list[int]) -> datetime | None:
        """When the next job or send is due, leaving out the channels in `full`."""
        with self.database.engine.connect() as connection:  # an idle round takes no lock
            times = (
                agent_jobs.next_due(connection, full),
                outbound.next_send_due(connection, full),
            )
        return min((moment for moment in times if moment is not None), default=None)

    def claim(self, now: datetime, room: int, busy: dict[int, int]) -> tuple[list[Any], list[Any]]:
        """Due jobs, then due sends with the room left (both within the channels' bounds,
        `busy` saying how many of each channel are under way)."""
        with self.database.unit_of_work() as uow:
            jobs = agent_jobs.claim_jobs(
                uow.connection, now, self.lease, room, room=busy, per_channel=self.per_channel
            )
            for job in jobs:
                busy[job.channel_id] = busy.get(job.channel_id, 0) + 1
            sends = []
            if room > len(jobs):
                sends = outbound.claim_sends(
                    uow.connection,
                    now,
                    self.lease,
                    room - len(jobs),
                    room=busy,
                    per_channel=self.per_channel,
                )
            uow.commit()
        return jobs, sends

    def release(self, jobs: Sequence[Any], sends: Sequence[Any]) -> int:
        """Give back claimed jobs and sends whose delivery was stopped midway; how many."""
        now = datetime.now(UTC)
        with self.database.unit_of_work() as uow:
            held = [(job.id, job.lease_token) for job in jobs]
            released = agent_jobs.release_jobs(uow.connection, held, now)
            held_sends = [(send.message_id, send.lease_token) for send in sends]
            released += outbound.release_sends(uow.connection, held_sends, now)
            uow.commit()
        return released
