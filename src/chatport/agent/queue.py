"""What a deliverer finds due in the database: agent jobs, and outbound messages whose send
is due again; claimed within its bounds, released when it stops."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chatport.store.database import Database
from chatport.store.jobs import agent_jobs, outbound


class DeliveryQueue:
    """Claims for one deliverer: leases of `lease`, at most `per_channel` jobs of one channel
    and as many sends."""

    def __init__(self, database: Database, lease: timedelta, per_channel: int) -> None:
        self.database = database
        self.lease = lease
        self.per_channel = per_channel

    def next_due(self, full_jobs: list[int], full_sends: list[int]) -> datetime | None:
        """When the next job or send is due, leaving out the channels whose jobs (sends) are
        at their bound."""
        with self.database.engine.connect() as connection:  # an idle round takes no lock
            times = (
                agent_jobs.next_due(connection, full_jobs),
                outbound.next_send_due(connection, full_sends),
            )
        return min((moment for moment in times if moment is not None), default=None)

    def claim(
        self,
        now: datetime,
        rooms: tuple[int, int, int],
        busy_jobs: dict[int, int],
        busy_sends: dict[int, int],
    ) -> tuple[list[Any], list[Any]]:
        """Up to `rooms[0]` due jobs and `rooms[1]` due sends, `rooms[2]` in all, each within
        the channels' bound (`busy_*` saying how many of each channel are under way), in one
        transaction."""
        job_room, send_room, total = rooms
        job_room = min(job_room, total)
        with self.database.unit_of_work() as uow:
            jobs = []
            if job_room > 0:
                jobs = agent_jobs.claim_jobs(
                    uow.connection,
                    now,
                    self.lease,
                    job_room,
                    room=busy_jobs,
                    per_channel=self.per_channel,
                )
            sends = []
            send_room = min(send_room, total - len(jobs))
            if send_room > 0:
                sends = outbound.claim_sends(
                    uow.connection,
                    now,
                    self.lease,
                    send_room,
                    room=busy_sends,
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
