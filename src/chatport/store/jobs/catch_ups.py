"""What a catch-up reads and writes besides its job (`ingest.catch_up`): the running catch-up
of a channel, where the next one's window starts, the request to run once more, and the
channels it is for."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection, func, select, update

from chatport.store.jobs.import_jobs import CATCH_UP, ImportJob, load_job
from chatport.store.tables import channels, chats, import_jobs

_AGAIN = "again"


def running_catch_up(connection: Connection, channel_id: int) -> ImportJob | None:
    """The channel's running catch-up (at most one: a unique index holds it), if any."""
    found = connection.execute(
        select(import_jobs.c.id).where(
            import_jobs.c.channel_id == channel_id,
            import_jobs.c.kind == CATCH_UP,
            import_jobs.c.status == "running",
        )
    ).scalar_one_or_none()
    return None if found is None else load_job(connection, found, chats=())


def newest_activity(connection: Connection, channel_id: int) -> datetime | None:
    """When the newest message stored for the channel was sent (its chats' previews, which
    only move forward)."""
    return connection.execute(
        select(func.max(chats.c.last_message_at)).where(chats.c.channel_id == channel_id)
    ).scalar_one_or_none()


def covered_until(connection: Connection, channel_id: int) -> datetime | None:
    """The end of the channel's newest completed catch-up: everything WAHA held up to then is
    stored."""
    return connection.execute(
        select(func.max(import_jobs.c.until)).where(
            import_jobs.c.channel_id == channel_id,
            import_jobs.c.kind == CATCH_UP,
            import_jobs.c.status == "completed",
        )
    ).scalar_one_or_none()


def channel_created_at(connection: Connection, channel_id: int) -> datetime | None:
    return connection.execute(
        select(channels.c.created_at).where(channels.c.id == channel_id)
    ).scalar_one_or_none()


def channels_with_waha(connection: Connection) -> list[int]:
    """The channels whose WAHA is known (a URL stored), in id order."""
    query = select(channels.c.id).where(channels.c.waha_url.is_not(None), channels.c.waha_url != "")
    return list(connection.execute(query.order_by(channels.c.id)).scalars())


def request_again(connection: Connection, job_id: UUID) -> None:
    """Ask the run of a catch-up to run once more when it ends (a trigger it coalesced)."""
    _set_again(connection, job_id, True)


def take_again(connection: Connection, job_id: UUID) -> bool:
    """Whether a trigger asked the catch-up to run once more, and forget the request."""
    params = _locked_params(connection, job_id)
    if not params.get(_AGAIN):
        return False
    _set_again(connection, job_id, False)
    return True


def _locked_params(connection: Connection, job_id: UUID) -> dict:
    query = select(import_jobs.c.params).where(import_jobs.c.id == job_id).with_for_update()
    params = connection.execute(query).scalar_one_or_none()
    return dict(params or {})


def _set_again(connection: Connection, job_id: UUID, again: bool) -> None:
    params = _locked_params(connection, job_id)
    if bool(params.get(_AGAIN)) == again:
        return
    params[_AGAIN] = again
    connection.execute(update(import_jobs).where(import_jobs.c.id == job_id).values(params=params))
