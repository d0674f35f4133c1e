"""An agent's reply: sent through the channel's WAHA, stored in the chat history.

The reply is sent through the channel's WAHA (`POST /api/sendText`) when the channel has one
(`CHATPORT_AGENT_SEND_VIA_WAHA`), once, never retried here (the job's scheduled retry does
that), with a timeout shorter than the job's lease; then stored as an outbound message (origin
`agent`, from_me) in the job's chat through the one write path. Its id is the one WAHA gave the
sent message, so WAHA's echo of it by webhook is the same message, not a second one (and not a
human takeover); without WAHA it is `chatport-agent-<job id>`.

A job's lease token is checked before its reply is sent (the lease renewed) and when it is
stored: a deliverer whose lease ran out, and whose job another claimed, neither sends nor
stores a second reply. The channel's WAHA is reached as `outbound.py` says unless the operator
gave its URL (`channels.waha_url_trusted`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from chatport.agent.asking import OutboundSessions
from chatport.domain.model import IncomingMessage, Origin
from chatport.errors import UrlRefused, WahaUnavailable
from chatport.outbound import OPERATOR, tenant_trust
from chatport.settings import Settings
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.store.channels import WahaAddress, channel_by_id, waha_of
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""The shortest lease of a claimed job (longer than an agent's answer and a send take)."""


def lease_for(settings: Settings) -> timedelta:
    """How long a claimed job is its deliverer's: longer than every outbound call it makes
    (the agent, then WAHA) together, with a margin."""
    calls = settings.agent_timeout_seconds + settings.waha_send_timeout_seconds
    return max(LEASE, timedelta(seconds=calls + 30))


async def send_text(
    sessions: OutboundSessions,
    waha: WahaAddress,
    chat_id: str,
    text: str,
    allow_private_urls: bool = False,
) -> str:
    """Send `text` to the chat through the channel's WAHA, once, on `sessions` (a tenant's URL
    reached as `outbound.py` says); the sent message's id. WahaUnavailable (or WahaAuthError)
    when WAHA did not send it in time."""
    trust = OPERATOR if waha.trusted else tenant_trust(allow_private_urls)
    settings = WahaSettings(
        url=waha.url or "",
        session=waha.session,
        api_key=waha.api_key,
        timeout_seconds=sessions.timeout.total or 30,
        trust=trust,
    )
    try:
        async with WahaClient(settings, http=sessions.session(trust)) as client:
            sent = await client.send_text(chat_id, text)
    except UrlRefused as refused:
        raise WahaUnavailable(f"POST /api/sendText: {refused}") from None
    if not sent:
        raise WahaUnavailable("WAHA's sendText answer named no message id")
    return sent


def waha_to_send(database: Database, settings: Settings, job: Any) -> WahaAddress | None:
    """The WAHA a reply to `job` is sent through (None: stored only)."""
    if not settings.agent_send_via_waha:
        return None
    with database.engine.connect() as connection:
        waha = waha_of(connection, job.channel_id, secrets=database.secrets)
    return waha if waha.url else None


def renew(database: Database, job: Any, token: UUID | None, lease: timedelta) -> bool:
    """Renew the lease `token` holds on the job before its reply is sent; False (logged)
    when another process took the job over."""
    with database.unit_of_work() as uow:
        held = agent_jobs.renew_lease(uow.connection, job.id, token, datetime.now(UTC) + lease)
        uow.commit()
    if not held:
        logger.warning(
            "agent job %s was taken over by another process: its reply is not sent", job.id
        )
    return held


def reply_to_job(
    database: Database, settings: Settings, job: Any, text: str | None, *, lease: timedelta = LEASE
) -> bool:
    """The agent's late reply to `job`, which it accepted with 202
    (`POST /api/agent-jobs/{id}/reply`): the job is taken first (`agent_jobs.take_job`, a new
    lease token: of two replies posted at once, one is sent), then `text` is sent and stored
    (`deliver_reply`). False when the job has another token than it was read with, or its
    outcome (nothing sent or stored); raises WahaError when sending failed (nothing stored)."""
    with database.unit_of_work() as uow:
        token = agent_jobs.take_job(
            uow.connection, job.id, job.lease_token, datetime.now(UTC), lease
        )
        uow.commit()
    if token is None:
        logger.warning("agent job %s: taken by another process meanwhile; reply dropped", job.id)
        return False
    return deliver_reply(database, settings, job, token, text, lease=lease)


def deliver_reply(
    database: Database,
    settings: Settings,
    job: Any,
    token: UUID | None,
    text: str | None,
    *,
    lease: timedelta = LEASE,
) -> bool:
    """As the holder of the job's lease `token`: send `text` (see the module), then store it
    (`store_reply`). False when the job carries another token (nothing sent or stored); raises
    WahaError when sending failed (nothing stored)."""
    sent_id = None
    waha = waha_to_send(database, settings, job) if text is not None else None
    if waha is not None and text is not None:
        if not renew(database, job, token, lease):
            return False

        async def send() -> str:
            sessions = OutboundSessions(settings.waha_send_timeout_seconds)
            try:
                return await send_text(
                    sessions, waha, job.chat_id, text, settings.allow_private_urls
                )
            finally:
                await sessions.close()

        sent_id = asyncio.run(send())
    return store_reply(database, job, text, sent_id, token=token)


def store_reply(
    database: Database,
    job: Any,
    text: str | None,
    message_id: str | None = None,
    *,
    token: UUID | None,
) -> bool:
    """Store the agent's reply to `job` as an outbound message of its chat (none when `text`
    is None; its id `message_id` when WAHA sent it, else `chatport-agent-<job id>`) and mark
    the job replied, in one transaction, when the job still carries the lease `token`; False
    when it does not (another process took it over: nothing stored)."""
    now = datetime.now(UTC)
    settled = False
    if text is None:
        with database.unit_of_work() as uow:
            settled = agent_jobs.settle_job(uow.connection, job.id, token, agent_jobs.REPLIED, now)
            uow.commit()
    else:
        with database.engine.connect() as connection:
            channel = channel_by_id(connection, job.channel_id, database.default_timeout)
        reply = IncomingMessage(
            external_id=message_id or f"chatport-agent-{job.id}",
            chat_id=job.chat_id,
            sent_at=now,
            from_me=True,
            text=text,
            raw={"agent_job": str(job.id), "text": text},
        )
        for uow in database.transactions():
            with uow:
                settled = agent_jobs.settle_job(
                    uow.connection, job.id, token, agent_jobs.REPLIED, now, reply=text
                )
                if settled:  # else rolled back: another process holds the job
                    uow.write_batch(channel, [reply], origin=Origin.AGENT)
                    uow.commit()
    if not settled:
        logger.warning(
            "agent job %s was taken over by another process: its reply is not stored", job.id
        )
    return settled
