"""Catch-up jobs: what WhatsApp holds that chatport never received while WAHA or chatport was
down, brought in as an import job of kind `catch-up` (same chunk step, engines and write path).

Its window starts at the newest message stored for the channel or at the end of the channel's
last completed catch-up, whichever is older (a webhook lost while others arrived is caught by
the next catch-up), minus an overlap; it ends when the job is created (later messages come as
webhooks). It reads WAHA's chats overview, newest activity first, up to the first chat older
than the window, and each of those chats' messages from the window's start; messages already
stored are dropped before they are mapped. At most one catch-up runs per channel (a unique
index): a trigger while one runs asks it to run once more when it ends (`again`), so what
happened meanwhile is caught too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chatport.errors import ConfigurationError, JobBusy
from chatport.store import channels
from chatport.store.database import Database
from chatport.store.jobs import catch_ups, leases
from chatport.store.jobs import import_jobs as jobs

TAKEN_OVER = "its run stopped without a word; a new catch-up took its place"


@dataclass(frozen=True)
class CatchUpStart:
    """What a trigger did: started `job`, or (`coalesced`) left it to the running `job`
    (asked to run once more when it ends, unless the trigger was a periodic one). On Temporal
    the workflow that runs the channel's catch-ups (`workflow_id`) creates the job: None."""

    job: jobs.ImportJob | None
    coalesced: bool
    workflow_id: str | None = None


def begin_catch_up(
    database: Database,
    channel_id: int,
    *,
    overlap: timedelta,
    params: dict[str, Any] | None = None,
    owner: str | None = None,
    now: datetime | None = None,
    again: bool = True,
) -> CatchUpStart:
    """A new catch-up job of the channel leased to `owner` (default: this process), or the
    running one, told to run once more when `again` (a run whose lease went stale is ended
    as `interrupted` and replaced). ConfigurationError when the channel's WAHA is not
    known."""
    for _ in range(3):
        try:
            return _begin(database, channel_id, overlap, params or {}, owner, now, again)
        except Exception as error:
            if not database.ops.is_unique_violation(error):
                raise
            # another process started one at this very moment: coalesce into it
    raise JobBusy(f"the catch-up of channel {channel_id} keeps changing hands")


def _begin(
    database: Database,
    channel_id: int,
    overlap: timedelta,
    params: dict[str, Any],
    owner: str | None,
    now: datetime | None,
    again: bool,
) -> CatchUpStart:
    now = now or datetime.now(UTC)
    with database.unit_of_work() as uow:
        connection = uow.connection
        url, session, _, _ = channels.waha_of(connection, channel_id, secrets=database.secrets)
        if not url:
            raise ConfigurationError(f"channel {channel_id} has no WAHA URL to catch up from")
        running = catch_ups.running_catch_up(connection, channel_id)
        if running is not None:
            try:
                leases.claim_job(connection, running)
            except JobBusy:
                if again:
                    catch_ups.request_again(connection, running.id)
                uow.commit()
                return CatchUpStart(running, coalesced=True)
            jobs.finish_job(connection, running, "interrupted", TAKEN_OVER)
        channel = channels.channel_by_id(connection, channel_id, database.default_timeout)
        job = jobs.create_job(
            connection,
            tenant_id=channel.tenant_id,
            channel_id=channel_id,
            source="waha",
            params={"url": url, "session": session, "fetchers": 1, **params},
            since=window_start(connection, channel_id, overlap, now),
            until=now,
            owner=owner,
            kind=jobs.CATCH_UP,
        )
        uow.commit()
    return CatchUpStart(job, coalesced=False)


def window_start(connection: Any, channel_id: int, overlap: timedelta, now: datetime) -> datetime:
    """Where the channel's next catch-up starts: the newest message stored or the end of the
    last completed catch-up, whichever is older (the channel's creation when it has neither;
    never after `now`), minus `overlap`."""
    known = [
        moment
        for moment in (
            catch_ups.newest_activity(connection, channel_id),
            catch_ups.covered_until(connection, channel_id),
        )
        if moment is not None
    ]
    start = min(known) if known else catch_ups.channel_created_at(connection, channel_id) or now
    return min(start, now) - overlap


def run_again(database: Database, job: jobs.ImportJob) -> bool:
    """Whether a trigger came while the catch-up `job` ran (it should run once more); the
    request is consumed."""
    if job.kind != jobs.CATCH_UP:
        return False
    with database.unit_of_work() as uow:
        again = catch_ups.take_again(uow.connection, job.id)
        uow.commit()
    return again


def channels_to_catch_up(database: Database) -> list[int]:
    """The channels a catch-up can run for: those whose WAHA is known."""
    with database.engine.connect() as connection:
        return catch_ups.channels_with_waha(connection)
