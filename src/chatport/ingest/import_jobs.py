"""Import jobs as the CLI and the API start them: a new job for a channel whose WAHA is
stored, a job reopened (resume, retry), the importer that runs a stored job."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chatport.domain.model import Channel, Engine
from chatport.domain.progress import ImportProgress
from chatport.errors import ConfigurationError, JobBusy, NotFoundError
from chatport.ingest.waha.contact import waha_settings
from chatport.ingest.waha.import_step import WahaImport
from chatport.outbound import OPERATOR, tenant_trust
from chatport.services import Services
from chatport.sources.waha.client import WahaChat, WahaClient, WahaSettings
from chatport.store import channels
from chatport.store.database import Database
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs import leases


def create_job(
    database: Database,
    channel: Channel,
    since: datetime | None,
    until: datetime,
    params: dict[str, Any],
    owner: str | None = None,
) -> jobs.ImportJob:
    """A new WAHA import job for `channel`, whose WAHA address must be stored, leased to
    `owner` (default: this process)."""
    with database.unit_of_work() as uow:
        url, session, _, _ = channels.waha_of(uow.connection, channel.id, secrets=database.secrets)
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
            owner=owner,
        )
        uow.commit()
    return job


def engine_of(job: jobs.ImportJob) -> Engine:
    """The engine that runs `job`."""
    return Engine(job.params.get("engine", Engine.INPROCESS))


def reopen(
    database: Database, job_id: str, *, engine: Engine = Engine.INPROCESS, owner: str | None = None
) -> jobs.ImportJob:
    """A stored job claimed by the caller (as `owner`, default: this process) and marked
    running again (to resume or retry it); `JobBusy` when another process runs it, or when
    the job belongs to another engine than `engine`."""
    with database.unit_of_work() as uow:
        job = jobs.load_job(uow.connection, job_id)
        if engine_of(job) != engine:
            raise JobBusy(
                f"import job {job.id} runs on the {engine_of(job)} engine; resume or retry it "
                "with `chatport import resume|retry`, which runs it there"
            )
        leases.claim_job(uow.connection, job, owner=owner)
        uow.commit()
    return job


def importer_for(
    services: Services,
    job: jobs.ImportJob,
    *,
    only_chats: set[str] | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    **options: Any,
) -> WahaImport:
    """The importer of a stored job, with its channel's stored WAHA and the job's options
    (`options` override them: see `WahaImport`)."""
    channel, waha = waha_of_job(services, job)
    defaults: dict[str, Any] = {
        "concurrency": int(job.params.get("concurrency", 4)),
        "chunk_size": int(job.params.get("chunk_size") or 0) or None,
        "fetchers": int(job.params.get("fetchers", 2)),
    }
    chosen = chats_of(job)
    if chosen is not None:  # one chat (or a few): no listing, read-only calls for those only
        defaults |= {"chats": tuple(WahaChat(c, None, None) for c in chosen), "fetchers": 1}
        only_chats = set(chosen) if only_chats is None else only_chats & set(chosen)
    return WahaImport(
        services.database,
        channel,
        job,
        waha,
        only_chats=only_chats,
        on_progress=on_progress,
        **{"observer": services.observer, **defaults, **options},
    )


def chats_of(job: jobs.ImportJob) -> list[str] | None:
    """The chats a job imports when it was started for some chats only (`--chat`), else None."""
    chosen = job.params.get("chats")
    return [str(chat) for chat in chosen] if chosen else None


def waha_of_job(services: Services, job: jobs.ImportJob) -> tuple[Channel, WahaSettings]:
    """The job's channel and how to reach its WAHA (as stored on the channel; a tenant's URL
    as `outbound.py` says)."""
    return waha_of_channel(services, job.channel_id, int(job.params.get("page_size", 500)))


def waha_of_channel(
    services: Services, channel_id: int, page_size: int = 500
) -> tuple[Channel, WahaSettings]:
    """The channel and how to reach its WAHA (ConfigurationError when it has no WAHA URL)."""
    database = services.database
    with database.engine.connect() as connection:
        url, session, api_key, trusted = channels.waha_of(
            connection, channel_id, secrets=database.secrets
        )
        channel = channels.channel_by_id(connection, channel_id, database.default_timeout)
    if not url:
        raise ConfigurationError("the job's channel has no WAHA URL; start a new import")
    settings = services.settings
    waha = waha_settings(
        settings,
        url,
        session,
        api_key,
        page_size=page_size,
        trust=OPERATOR if trusted else tenant_trust(settings.allow_private_urls),
    )
    return channel, waha


async def resolve_chat(waha: WahaSettings, chat_id: str, stored: Mapping[str, str]) -> str:
    """The id WAHA holds `chat_id`'s messages under: the chat itself, else its other alias
    (a phone's `@lid` or a LID's phone, from the channel's `stored` mapping or asked of
    WAHA); NotFoundError when WAHA holds no message under any of them."""
    candidates = [chat_id]
    async with WahaClient(waha) as client:
        if chat_id.endswith("@c.us"):
            by_phone = {phone: lid for lid, phone in stored.items()}
            other = by_phone.get(chat_id) or await client.lid_of_phone(chat_id)
        elif chat_id.endswith("@lid"):
            other = stored.get(chat_id) or await client.phone_of_lid(chat_id)
        else:
            other = None
        if other and other != chat_id:
            candidates.append(other)
        for candidate in candidates:
            if await client.has_messages(candidate):
                return candidate
    raise NotFoundError(
        f"WAHA session {waha.session!r} holds no message of chat {' or '.join(candidates)}"
    )
