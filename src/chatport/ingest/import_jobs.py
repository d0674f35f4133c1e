"""Import jobs as the CLI and the API start them: a new job for a channel whose WAHA is
stored, a job reopened (resume, retry), the importer that runs a stored job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chatport.bootstrap import Services
from chatport.domain.model import Channel
from chatport.errors import ConfigurationError
from chatport.ingest.waha_import import Progress, WahaImport
from chatport.sources.circuit import CircuitSettings
from chatport.sources.waha import WahaSettings
from chatport.store import job_leases, jobs, queries
from chatport.store.database import Database


def create_job(
    database: Database,
    channel: Channel,
    since: datetime | None,
    until: datetime,
    params: dict[str, Any],
) -> jobs.ImportJob:
    """A new WAHA import job for `channel`, whose WAHA address must be stored."""
    with database.unit_of_work() as uow:
        url, session, _ = queries.waha_of(uow.connection, channel.id)
        if not url:
            raise ConfigurationError(f"channel {channel.name!r} has no WAHA URL")
        job = jobs.create_job(
            uow.connection,
            tenant_id=channel.tenant_id,
            channel_id=channel.id,
            source="waha",
            params={"url": url, "session": session, **params},
            since=since,
            until=until,
        )
        uow.commit()
    return job


def reopen(database: Database, job_id: str) -> jobs.ImportJob:
    """A stored job claimed by the caller and marked running again (to resume or retry it);
    `JobBusy` when another process runs it."""
    with database.unit_of_work() as uow:
        job = jobs.load_job(uow.connection, job_id)
        job_leases.claim_job(uow.connection, job)
        uow.commit()
    return job


def importer_for(
    services: Services,
    job: jobs.ImportJob,
    *,
    only_chats: set[str] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> WahaImport:
    """The importer of a stored job, with its channel's stored WAHA and the job's options."""
    database = services.database
    with database.engine.connect() as connection:
        url, session, api_key = queries.waha_of(connection, job.channel_id)
        channel = queries.channel_by_id(connection, job.channel_id, database.default_timeout)
    if not url:
        raise ConfigurationError("the job's channel has no WAHA URL; start a new import")
    settings = services.settings
    waha = WahaSettings(
        url=url,
        session=session,
        api_key=api_key,
        page_size=int(job.params.get("page_size", 500)),
        circuit=CircuitSettings(
            threshold=settings.waha_circuit_threshold,
            open_seconds=settings.waha_circuit_open_seconds,
            give_up_seconds=settings.waha_give_up_minutes * 60,
        ),
    )
    return WahaImport(
        database,
        channel,
        job,
        waha,
        concurrency=int(job.params.get("concurrency", 4)),
        chunk_size=int(job.params.get("chunk_size", 5000)),
        fetchers=int(job.params.get("fetchers", 2)),
        only_chats=only_chats,
        on_progress=on_progress,
    )
