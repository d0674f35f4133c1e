"""One delivery attempt of an agent job, and how its outcome is recorded.

An attempt asks the agent (`asking.py`), then sends and stores its reply (`replies.py`). A
failed attempt puts the job back to pending with exponential backoff and jitter, scheduled in
the database; after `max_attempts` the job is `failed`, with the error. Outcomes are written
only while the job carries the lease token it was claimed with.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from chatport.agent import replies
from chatport.agent.asking import LATER, AgentRejected, OutboundSessions, ask_agent
from chatport.agent.signing import job_headers
from chatport.errors import SecretKeyError, WahaError
from chatport.outbound import OPERATOR, tenant_trust
from chatport.settings import Settings
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs

logger = logging.getLogger(__name__)


class Attempts:
    """Delivery attempts of a deliverer's jobs, over its HTTP sessions (`agents`, `waha`),
    their database work run on `executor`."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        lease: timedelta,
        max_attempts: int,
        base_delay: timedelta,
        max_delay: timedelta,
        agents: OutboundSessions,
        waha: OutboundSessions,
        executor: Executor,
    ) -> None:
        self.database = database
        self.settings = settings
        self.lease = lease
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._agents = agents
        self._waha = waha
        self._executor = executor

    async def _in_db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def deliver(self, job: Any) -> str:
        """Deliver `job` once; the outcome (see `DeliveryObserver`). Raises what the agent
        raised (the caller records the failure, `failed`)."""
        payload, own = await self._in_db(self._payload, job)
        if own:  # the tenant's
            agent, trust = own, tenant_trust(self.settings.allow_private_urls)
        else:
            agent, trust = self.settings.agent_url, OPERATOR
        if job.reply is not None:  # the agent answered; sending it failed last time
            answer = job.reply
        elif not agent:
            raise AgentRejected("no agent: set the channel's agent_url or CHATPORT_AGENT_URL")
        else:
            body = orjson.dumps(payload)
            headers = job_headers(self.settings, payload["job_id"], body)
            answer = await ask_agent(
                agent, trust, payload, sessions=self._agents, headers=headers, body=body
            )
        if answer is LATER:
            await self._in_db(self._store_outcome, job, agent_jobs.WAITING)
            return "waiting"
        return await self._reply(job, answer)

    def _payload(self, job: Any) -> tuple[dict[str, Any], str | None]:
        with self.database.engine.connect() as connection:
            return agent_jobs.job_payload(connection, job), agent_jobs.agent_of(
                connection, job.channel_id
            )

    async def _reply(self, job: Any, text: str | None) -> str:
        """Send `text` through the channel's WAHA (once), then store it (see `replies.py`)."""
        sent_id = None
        try:
            waha = None
            if text is not None:
                waha = await self._in_db(replies.waha_to_send, self.database, self.settings, job)
            if waha is not None and text is not None:
                held = await self._in_db(
                    replies.renew, self.database, job, job.lease_token, self.lease
                )
                if not held:
                    return "taken_over"
                sent_id = await replies.send_text(
                    self._waha, waha, job.chat_id, text, self.settings.allow_private_urls
                )
        except (WahaError, SecretKeyError) as error:  # SecretKeyError: its WAHA key unreadable
            error_text = f"sending the reply through WAHA: {error}"
            await self._in_db(self.failed, job, error_text, text)
            return "send_failed"
        stored = await self._in_db(
            lambda: replies.store_reply(self.database, job, text, sent_id, token=job.lease_token)
        )
        if not stored:
            return "taken_over"
        return "no_reply" if text is None else "sent" if sent_id else "stored"

    def failed(self, job: Any, error: str, reply: str | None = None) -> None:
        if job.attempts >= self.max_attempts:  # `attempts` counts this one
            self._store_outcome(job, agent_jobs.FAILED, error=error, reply=reply)
            return
        delay = min(self.max_delay, self.base_delay * 2 ** (job.attempts - 1))
        retry_at = datetime.now(UTC) + delay * random.uniform(0.5, 1.0)
        self._store_outcome(job, agent_jobs.PENDING, error=error, retry_at=retry_at, reply=reply)

    def _store_outcome(self, job: Any, status: str, **outcome: Any) -> None:
        with self.database.unit_of_work() as uow:
            settled = agent_jobs.settle_job(
                uow.connection, job.id, job.lease_token, status, datetime.now(UTC), **outcome
            )
            uow.commit()
        if not settled:
            logger.warning(
                "agent job %s was taken over by another process: its outcome (%s) is dropped",
                job.id,
                status,
            )
