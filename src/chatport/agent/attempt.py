"""One delivery attempt of an agent job, and how its outcome is recorded.

An attempt asks the agent (`asking.py`), stores its reply at once, then sends it through the
channel's WAHA (`replies.py`; a send is an `outbound_messages` row, also claimed on its own by
the deliverer when it is due again). A failed attempt puts the job (or the send) back to
pending with exponential backoff and jitter, scheduled in the database; after `max_attempts`
it is `failed`, with the error. Outcomes are written only while the job (or the send) carries
the lease token it was claimed with.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from aiolimiter import AsyncLimiter

from chatport.agent import replies
from chatport.agent.asking import LATER, AgentRejected, OutboundSessions, ask_agent
from chatport.agent.gate import WriteGate
from chatport.agent.signing import job_headers, signer
from chatport.errors import SecretKeyError, WahaError, WahaUnavailable
from chatport.outbound import OPERATOR, tenant_trust
from chatport.settings import Settings
from chatport.store.channels import WahaAddress, waha_of
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs, outbound
from chatport.store.jobs.bot import BotState

logger = logging.getLogger(__name__)


class Send(NamedTuple):
    """An outbound message claimed for sending (as an `outbound_messages` row has it)."""

    message_id: int
    channel_id: int
    chat_id: str
    text: str
    attempts: int
    lease_token: UUID | None


@dataclass(frozen=True)
class Slots:
    """What a delivery tells its deliverer of its way (the deliverer's bounds): `answered()`
    once the agent answered (the job's slot is free: what is left is database work), and
    `send_slot()` before its reply is stored with a send, True when a send slot of the
    channel is now the delivery's (its send is claimed at once, else left pending)."""

    answered: Callable[[], None] = lambda: None
    send_slot: Callable[[], bool] = lambda: True


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
        intake: Executor | None = None,
        gate: WriteGate | None = None,
    ) -> None:
        """`executor` runs the database work after the agent answered; `intake` (default:
        `executor`) the read of what the agent is sent; `gate` the writes go through."""
        self.database = database
        self.settings = settings
        self.lease = lease
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._agents = agents
        self._waha = waha
        self._executor = executor
        self._intake = intake or executor
        self._gate = gate or WriteGate(enabled=False)
        self._signer = signer(settings)
        self._limiters: dict[int, AsyncLimiter] = {}  # sends per channel (WhatsApp's spam rules)

    async def _in_db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def deliver(self, job: Any, slots: Slots | None = None) -> str | Send:
        """Deliver `job` once: the outcome (see `DeliveryObserver`), or, when its reply is
        stored and its send claimed at once (`slots.send_slot()` said a send slot of the
        channel is the caller's), that `Send`, for the caller to `send`. Raises what the
        agent raised (the caller records the failure, `failed`)."""
        slots = slots or Slots()

        loop = asyncio.get_running_loop()
        payload, own, bot, minutes = await loop.run_in_executor(self._intake, self._payload, job)
        if not bot.answers and job.reply is None:  # a human answered meanwhile, or bot off
            why = f"paused until {bot.paused_until.isoformat()}" if bot.paused_until else "off"
            error = f"the chat's bot is {why}"
            await self._in_db(lambda: self._store_outcome(job, agent_jobs.SKIPPED, error=error))
            return "skipped"
        human = payload["human"]
        handoff = timedelta(minutes=minutes)
        human["recent"] = bool(
            bot.last_human_at and datetime.now(UTC) - bot.last_human_at < handoff
        )
        if own:  # the tenant's
            agent, trust = own, tenant_trust(self.settings.allow_private_urls)
        else:
            agent, trust = self.settings.agent_url, OPERATOR
        if job.reply is not None:  # the agent answered before this version stored it at once
            answer = job.reply
        elif not agent:
            raise AgentRejected("no agent: set the channel's agent_url or CHATPORT_AGENT_URL")
        else:
            body = orjson.dumps(payload)
            headers = job_headers(self.settings, payload["job_id"], body, self._signer)
            answer = await ask_agent(
                agent, trust, payload, sessions=self._agents, headers=headers, body=body
            )
        slots.answered()
        if answer is LATER:
            await self._in_db(self._store_outcome, job, agent_jobs.WAITING)
            return "waiting"
        return await self._reply(job, answer, slots.send_slot)

    def _payload(self, job: Any) -> tuple[dict[str, Any], str | None, BotState, float]:
        """What the agent is sent, the channel's own agent, the chat's bot and the handoff
        minutes: one read."""
        with self.database.engine.connect() as connection:
            ready = agent_jobs.job_payload(connection, job, datetime.now(UTC))
        minutes = ready.handoff_minutes or self.settings.handoff_minutes
        return ready.payload, ready.agent_url, ready.bot, minutes

    async def _reply(self, job: Any, text: str | None, send_slot: Callable[[], bool]) -> str | Send:
        """Store `text` at once (history), its send claimed at once when the channel has a
        WAHA and `send_slot()` a free slot, else left pending for a round to claim (see
        `replies.py`)."""
        claim = text is not None and send_slot()
        stored = await self._in_db(self._store_reply, job, text, claim)
        if stored is None:
            return "taken_over"
        if stored.message_id is None:
            return "no_reply"
        if stored.send_token is None:
            return "stored"
        return Send(
            stored.message_id, job.channel_id, job.chat_id, text or "", 1, stored.send_token
        )

    def _store_reply(self, job: Any, text: str | None, claim: bool) -> replies.Stored | None:
        database, settings = self.database, self.settings
        send = text is not None and replies.sends_via_waha(database, settings, job.channel_id)
        lease = self.lease if claim else None
        with self._gate.write():
            return replies.store_reply(
                database, job, text, token=job.lease_token, send=send, lease=lease
            )

    async def send(self, send: Any) -> str:
        """Send a claimed outbound message once (`outbound_messages`): `sent`, `send_failed`
        (pending again with backoff, or `failed` after the last attempt) or `taken_over`."""
        now = datetime.now(UTC)
        limiter = self._limiters.get(send.channel_id)
        if limiter is None:
            limiter = AsyncLimiter(self.settings.send_rate_per_minute, 60)
            self._limiters[send.channel_id] = limiter
        if not limiter.has_capacity():  # the channel's send rate: its turn comes later
            later = now + timedelta(seconds=60 / self.settings.send_rate_per_minute)
            held = await self._in_db(self._settle_send, outbound.postpone, send, later, now)
            return "postponed" if held else "taken_over"
        await limiter.acquire()
        try:
            waha = await self._in_db(self._waha_of, send.channel_id)
            if waha.url is None:
                raise WahaUnavailable("the channel has no WAHA to send through")
            sent_id = await replies.send_text(
                self._waha, waha, send.chat_id, send.text, self.settings.allow_private_urls
            )
        except (WahaError, SecretKeyError) as error:  # SecretKeyError: its WAHA key unreadable
            retry_at = None
            if send.attempts < self.max_attempts:
                retry_at = datetime.now(UTC) + self._backoff(send.attempts)
            error_text = f"sending through WAHA: {error}"
            held = await self._in_db(
                self._settle_send, outbound.mark_failed, send, error_text, now, retry_at
            )
            return "send_failed" if held else "taken_over"
        held = await self._in_db(self._settle_send, outbound.mark_sent, send, sent_id, now)
        return "sent" if held else "taken_over"

    def _waha_of(self, channel_id: int) -> WahaAddress:
        with self.database.engine.connect() as connection:
            return waha_of(connection, channel_id, secrets=self.database.secrets)

    def _settle_send(self, mark: Callable[..., bool], send: Any, *args: Any) -> bool:
        with self._gate.write(), self.database.unit_of_work() as uow:
            held = mark(uow.connection, send.message_id, send.lease_token, *args)
            uow.commit()
        if not held:
            logger.info("outbound message %s was settled elsewhere meanwhile", send.message_id)
        return held

    def _backoff(self, attempts: int) -> timedelta:
        delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        return delay * random.uniform(0.5, 1.0)

    def failed(self, job: Any, error: str, reply: str | None = None) -> None:
        if job.attempts >= self.max_attempts:  # `attempts` counts this one
            self._store_outcome(job, agent_jobs.FAILED, error=error, reply=reply)
            return
        retry_at = datetime.now(UTC) + self._backoff(job.attempts)
        self._store_outcome(job, agent_jobs.PENDING, error=error, retry_at=retry_at, reply=reply)

    def _store_outcome(self, job: Any, status: str, **outcome: Any) -> None:
        with self._gate.write(), self.database.unit_of_work() as uow:
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
