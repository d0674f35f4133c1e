"""An agent's reply: history at once, then sent through the channel's WAHA.

When the agent answers, its reply is stored at once as an outbound message of the job's chat
(origin `agent`, from_me, id `chatport-agent-<job id>`) through the one write path, the job
marked replied, and, when the channel has a WAHA (and `CHATPORT_AGENT_SEND_VIA_WAHA`), an
`outbound_messages` row in the same transaction (`store/jobs/outbound.py`): a WAHA outage never
hides what the agent said. Sending is that row's business: once per attempt, with a timeout
shorter than its lease, never retried at once; WAHA's id then becomes the message's id, so
WAHA's echo of it is the same row (not a second one, not a human taking over).

The job's lease token is checked when the reply is stored: a deliverer whose lease ran out,
and whose job another claimed, stores (and so sends) nothing. The channel's WAHA is reached as
`outbound.py` says unless the operator gave its URL (`channels.waha_url_trusted`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select

from chatport.agent.asking import OutboundSessions
from chatport.domain.model import IncomingMessage, Origin
from chatport.errors import UrlRefused, WahaUnavailable
from chatport.outbound import OPERATOR, tenant_trust
from chatport.settings import Settings
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.store.channels import WahaAddress, channel_by_id
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs, outbound
from chatport.store.tables import channels

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


def sends_via_waha(database: Database, settings: Settings, channel_id: int) -> bool:
    """Whether replies in the channel are sent through its WAHA (it has a URL, and
    `CHATPORT_AGENT_SEND_VIA_WAHA`)."""
    if not settings.agent_send_via_waha:
        return False
    with database.engine.connect() as connection:
        url = connection.execute(
            select(channels.c.waha_url).where(channels.c.id == channel_id)
        ).scalar()
    return bool(url)


@dataclass(frozen=True)
class Stored:
    """A reply stored: its message's row id (None: no reply) and, when the caller claimed its
    send at once, the lease token of that send."""

    message_id: int | None = None
    send_token: UUID | None = None


def reply_to_job(database: Database, settings: Settings, job: Any, text: str | None) -> bool:
    """The agent's late reply to `job`, which it accepted with 202
    (`POST /api/agent-jobs/{id}/reply`): the job is taken first (`agent_jobs.take_job`, a new
    lease token: of two replies posted at once, one is stored), then `text` is stored, its
    send pending (the deliverer sends it: wake it). False when the job has another token than
    it was read with, or its outcome (nothing stored)."""
    with database.unit_of_work() as uow:
        token = agent_jobs.take_job(
            uow.connection, job.id, job.lease_token, datetime.now(UTC), LEASE
        )
        uow.commit()
    if token is None:
        logger.warning("agent job %s: taken by another process meanwhile; reply dropped", job.id)
        return False
    send = text is not None and sends_via_waha(database, settings, job.channel_id)
    return store_reply(database, job, text, token=token, send=send) is not None


def store_reply(
    database: Database,
    job: Any,
    text: str | None,
    *,
    token: UUID | None,
    send: bool,
    lease: timedelta | None = None,
) -> Stored | None:
    """Store the agent's reply to `job` as an outbound message of its chat (none when `text`
    is None) and mark the job replied, in one transaction, when the job still carries the
    lease `token`; with `send`, the message is to be sent through WAHA: pending, or claimed by
    the caller at once for `lease`. None when the job carries another token (another process
    took it over: nothing stored)."""
    now = datetime.now(UTC)
    stored: Stored | None = None
    if text is None:
        with database.unit_of_work() as uow:
            if agent_jobs.settle_job(uow.connection, job.id, token, agent_jobs.REPLIED, now):
                stored = Stored()
            uow.commit()
    else:
        with database.engine.connect() as connection:
            channel = channel_by_id(connection, job.channel_id, database.default_timeout)
        external_id = f"chatport-agent-{job.id}"
        reply = IncomingMessage(
            external_id=external_id,
            chat_id=job.chat_id,
            sent_at=now,
            from_me=True,
            text=text,
            raw={"agent_job": str(job.id), "text": text},
        )
        for uow in database.transactions():
            with uow:
                stored = None
                if agent_jobs.settle_job(
                    uow.connection, job.id, token, agent_jobs.REPLIED, now, reply=text
                ):  # else rolled back: another process holds the job
                    uow.write_batch(channel, [reply], origin=Origin.AGENT, now=now)
                    row_id = outbound.message_row_id(uow.connection, channel.id, external_id)
                    send_token = None
                    if send:
                        send_token = outbound.add_outbound(
                            uow.connection,
                            message_id=row_id,
                            tenant_id=channel.tenant_id,
                            channel_id=channel.id,
                            chat_id=job.chat_id,
                            origin=str(Origin.AGENT),
                            text=text,
                            now=now,
                            agent_job_id=job.id,
                            lease=lease,
                        )
                    stored = Stored(row_id, send_token)
                    uow.commit()
    if stored is None:
        logger.warning(
            "agent job %s was taken over by another process: its reply is not stored", job.id
        )
    return stored
