"""A WAHA import's channel and job (`chatport import waha`, the demos): the channel WAHA's
address is remembered in (given by the operator, so trusted), the job created for it, and
`--chat` as the id WAHA holds the chat under."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from chatport.bootstrap import Services
from chatport.cli.import_files import chat_option, existing_channel
from chatport.domain.model import Channel
from chatport.errors import NotFoundError
from chatport.ingest import import_jobs
from chatport.ingest.waha.contact import waha_settings
from chatport.store import channels
from chatport.store.jobs import import_jobs as jobs
from chatport.store.write_path.lids import channel_lids


def chat_in_waha(
    services: Services,
    url: str,
    session: str,
    api_key: str | None,
    channel: str,
    tenant: str,
    chat: str,
) -> str:
    """`--chat` as the id WAHA holds it under (a phone's `@lid` chat, a LID's phone chat)."""
    stored: dict[str, str] = {}
    with services.database.unit_of_work() as uow, contextlib.suppress(NotFoundError):
        stored = channel_lids(uow.connection, uow.channel(channel, tenant).id)  # none: new
    waha = waha_settings(services.settings, url, session, api_key)
    return asyncio.run(import_jobs.resolve_chat(waha, chat_option(chat), stored))


def create_waha_job(
    services: Services,
    url: str,
    session: str,
    api_key: str | None,
    channel: str,
    since: datetime | None,
    until: datetime,
    params: dict,
    owner: str | None = None,
    *,
    tenant: str = "default",
    create: bool = True,
) -> jobs.ImportJob:
    """A new WAHA import job for `channel` of `tenant` (created if new and `create`), WAHA's
    address remembered, leased to `owner` (default: this process)."""
    target = remember_channel_waha(
        services, url, session, api_key, channel, tenant=tenant, create=create
    )
    return import_jobs.create_job(services.database, target, since, until, params, owner)


def remember_channel_waha(
    services: Services,
    url: str,
    session: str,
    api_key: str | None,
    channel: str,
    *,
    tenant: str = "default",
    create: bool = True,
    dry_run: bool = False,
) -> Channel:
    """`channel` of `tenant` (created if new and `create`, else NotFoundError) with WAHA's
    address remembered (given by the operator); ChannelConflict when another channel takes
    that WAHA session. `dry_run`: only check that it could be done (nothing is kept)."""
    with services.database.unit_of_work() as uow:
        target = existing_channel(uow, channel, tenant, create=create)
        if target is None:
            target = uow.create_channel(channel, tenant=tenant, waha_session=session)
        channels.remember_waha(
            uow.connection,
            target,
            url,
            session,
            api_key,
            trusted=True,
            secrets=services.database.secrets,
        )
        if not dry_run:
            uow.commit()
    return target
