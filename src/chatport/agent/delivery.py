"""Delivering agent jobs: POST the job to the agent, store its reply in the chat history.

The agent is the channel's `agent_url`, else `CHATPORT_AGENT_URL`: an HTTP URL, or
`python:module:function` for an agent in this process (called with the payload dict; returns
the reply text or None). Over HTTP the job is POSTed as JSON, signed with HMAC-SHA256 of the
body (`X-Chatport-Signature: sha256=<hex>`, key `CHATPORT_AGENT_HMAC_KEY`) when a key is set.
The agent answers `{"reply": "…"}` (stored at once), or 202 and later
`POST /api/agent-jobs/{id}/reply`. The POST goes through aiohttp (as WAHA's traffic does), on
one session the deliverer keeps for its life, on an event loop of its own run by the thread
that delivers. A failed attempt is retried later with exponential backoff and jitter,
scheduled in the database (so retries survive restarts); after `max_attempts` the job is
`failed`, with the error.

Each `chatport serve` runs one deliverer: it sleeps until the next job is due; on PostgreSQL a
new job wakes it at once (LISTEN/NOTIFY), on SQLite it polls every `poll_seconds`.

The reply is sent through the channel's WAHA (`POST /api/sendText`) when the channel has one
(`CHATPORT_AGENT_SEND_VIA_WAHA`), then stored as an outbound message (origin `agent`, from_me)
in the job's chat through the one write path: same session rules, chat preview. Its id is the
one WAHA gave the sent message, so WAHA's echo of it by webhook is the same message, not a
second one (and not a human takeover); without WAHA it is `chatport-agent-<job id>`. A reply
whose sending failed is kept on the job and sent again at the next attempt (the agent is not
asked twice).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from chatport.agent.waking_loop import WakingLoop
from chatport.domain.model import IncomingMessage, Origin
from chatport.errors import SecretKeyError, WahaError, WahaUnavailable
from chatport.settings import Settings
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.store.channels import channel_by_id, waha_of
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs
from chatport.store.jobs.wakeups import AGENT_JOBS

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)


class AgentRejected(Exception):
    """The agent answered with an error (its status and body in the message)."""


# what a failed attempt raises, as opposed to a bug (logged with its traceback)
_AGENT_FAILURES = (AgentRejected, aiohttp.ClientError, TimeoutError, ValueError, ImportError)


class AgentDeliverer(WakingLoop):
    """A thread that delivers due agent jobs (`start()`, `close()`), or `run_once()`."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        poll_seconds: float = 0.2,
        idle_seconds: float = 5.0,
        max_attempts: int = 5,
        base_delay: timedelta = timedelta(seconds=2),
        max_delay: timedelta = timedelta(minutes=5),
    ) -> None:
        super().__init__(
            database,
            AGENT_JOBS,
            "agent-delivery",
            poll_seconds=poll_seconds,
            idle_seconds=idle_seconds,
        )
        self.settings = settings
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._http = _AgentHttp(settings.agent_timeout_seconds)

    def close(self) -> None:
        """Stop (a delivery under way finishes)."""
        super().close()  # the thread, if started, closed its HTTP session on the way out
        self._http.close()  # else `run_once` used it on this thread: close it here

    def _run(self) -> None:
        try:
            super()._run()
        finally:
            self._http.close()  # on the thread that ran its event loop

    def run_once(self, now: datetime | None = None) -> int:
        """Deliver the jobs due at `now`; how many were claimed."""
        now = now or datetime.now(UTC)
        with self.database.unit_of_work() as uow:
            claimed = agent_jobs.claim_jobs(uow.connection, now, LEASE)
            uow.commit()
        for job in claimed:
            self._deliver(job)
        return len(claimed)

    def _round(self) -> float:
        """Deliver what is due; the seconds until the next job is."""
        with self.database.engine.connect() as connection:  # an idle round takes no lock
            due = agent_jobs.next_due(connection)
        now = datetime.now(UTC)
        if due is not None and due <= now:
            self.run_once(now)
            return 0.0
        return (due - now).total_seconds() + 0.001 if due is not None else self.idle_seconds

    def _deliver(self, job: Any) -> None:
        with self.database.engine.connect() as connection:
            payload = agent_jobs.job_payload(connection, job)
            agent = agent_jobs.agent_of(connection, job.channel_id) or self.settings.agent_url
        try:
            if job.reply is not None:  # the agent answered; sending it failed last time
                answer = job.reply
            elif not agent:
                raise AgentRejected("no agent: set the channel's agent_url or CHATPORT_AGENT_URL")
            else:
                answer = self._ask(agent, payload)
        except _AGENT_FAILURES as error:
            self._failed(job, f"{type(error).__name__}: {error}")
            return
        except Exception as error:  # noqa: BLE001 - an in-process agent may raise anything
            logger.exception("agent of job %s raised", job.id)
            self._failed(job, f"{type(error).__name__}: {error}")
            return
        if answer is _LATER:
            self._store_outcome(job, agent_jobs.WAITING)
            return
        try:
            reply_to_job(self.database, self.settings, job, answer)
        except (WahaError, SecretKeyError) as error:  # SecretKeyError: its WAHA key unreadable
            self._failed(job, f"sending the reply through WAHA: {error}", reply=answer)

    def _ask(self, agent: str, payload: dict[str, Any]) -> str | None | object:
        """The agent's reply text (None: no reply), or `_LATER` when it answers 202."""
        if agent.startswith("python:"):
            module, _, name = agent.removeprefix("python:").partition(":")
            reply = getattr(importlib.import_module(module), name)(payload)
            return reply if isinstance(reply, str) and reply.strip() else None
        body = orjson.dumps(payload)
        headers = {"content-type": "application/json", "x-chatport-job": payload["job_id"]}
        if self.settings.agent_hmac_key:
            digest = hmac.new(self.settings.agent_hmac_key.encode(), body, hashlib.sha256)
            headers["x-chatport-signature"] = f"sha256={digest.hexdigest()}"
        status, content = self._http.post(agent, body, headers)
        if status == 202:
            return _LATER
        if not 200 <= status < 300:
            raise AgentRejected(f"HTTP {status}: {content.decode(errors='replace')[:300]}")
        reply = orjson.loads(content).get("reply") if content else None
        return reply if isinstance(reply, str) and reply.strip() else None

    def _failed(self, job: Any, error: str, reply: str | None = None) -> None:
        attempt = job.attempts + 1
        if attempt >= self.max_attempts:
            self._store_outcome(job, agent_jobs.FAILED, error=error, reply=reply)
            return
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        retry_at = datetime.now(UTC) + delay * random.uniform(0.5, 1.0)
        self._store_outcome(job, agent_jobs.PENDING, error=error, retry_at=retry_at, reply=reply)

    def _store_outcome(self, job: Any, status: str, **outcome: Any) -> None:
        with self.database.unit_of_work() as uow:
            agent_jobs.settle_job(uow.connection, job.id, status, datetime.now(UTC), **outcome)
            uow.commit()


_LATER = object()


class _AgentHttp:
    """POSTs to HTTP agents, synchronously, over one aiohttp session (its connections kept
    alive between jobs) on an event loop of its own. One thread at a time uses it: the
    deliverer's, or the caller of `run_once`. `close()` is idempotent."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        # a loop factory: the runner leaves the thread's current event loop alone
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """The status and body of the answer to POSTing `body` to `url` (no redirects
        followed); raises aiohttp.ClientError or TimeoutError when there is none in time."""
        if self._closed:
            raise RuntimeError("the agent deliverer is closed")
        return self._runner.run(self._post(url, body, headers))

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._session is None:  # created on its loop, inside it
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=True)
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's says nothing
            raise TimeoutError(f"no answer within {self._timeout.total:g} s") from error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._session is not None:
                self._runner.run(self._session.close())
        finally:
            self._session = None
            self._runner.close()


def reply_to_job(database: Database, settings: Settings, job: Any, text: str | None) -> None:
    """Send `text` through the job's channel's WAHA when it has one (and
    `agent_send_via_waha`), then store it in the chat (`store_reply`); raises WahaError when
    sending failed (nothing stored)."""
    sent_id = None
    if text is not None and settings.agent_send_via_waha:
        with database.engine.connect() as connection:
            waha = waha_of(connection, job.channel_id, secrets=database.secrets)
        if waha[0]:
            sent_id = send_through_waha(waha, job.chat_id, text)
    store_reply(database, job, text, sent_id)


def send_through_waha(waha: tuple[str | None, str, str | None], chat_id: str, text: str) -> str:
    """Send `text` to the chat through the channel's WAHA (`url, session, api_key`); the sent
    message's id (WAHA's echo of it by webhook is then the same message, not a second one)."""
    url, session, api_key = waha
    settings = WahaSettings(url=url or "", session=session, api_key=api_key, timeout_seconds=30)

    async def send() -> str | None:
        async with WahaClient(settings) as client:
            return await client.send_text(chat_id, text)

    sent = asyncio.run(send())
    if not sent:
        raise WahaUnavailable("WAHA's sendText answer named no message id")
    return sent


def store_reply(
    database: Database, job: Any, text: str | None, message_id: str | None = None
) -> None:
    """Store the agent's reply to `job` as an outbound message of its chat (none when `text`
    is None; its id `message_id` when WAHA sent it, else `chatport-agent-<job id>`) and mark
    the job replied, in one transaction."""
    now = datetime.now(UTC)
    if text is None:
        with database.unit_of_work() as uow:
            agent_jobs.settle_job(uow.connection, job.id, agent_jobs.REPLIED, now)
            uow.commit()
        return
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
            uow.write_batch(channel, [reply], origin=Origin.AGENT)
            agent_jobs.settle_job(uow.connection, job.id, agent_jobs.REPLIED, now, reply=text)
            uow.commit()
