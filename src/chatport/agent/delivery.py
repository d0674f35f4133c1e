"""Delivering agent jobs: POST the job to the agent, store its reply in the chat history.

The agent is the channel's `agent_url`, else `CHATPORT_AGENT_URL`: an HTTP URL, or
`python:module:function` for an agent in this process (called with the payload dict; returns
the reply text or None). Over HTTP the job is POSTed as JSON, signed with HMAC-SHA256 of the
body (`X-Chatport-Signature: sha256=<hex>`, key `CHATPORT_AGENT_HMAC_KEY`) when a key is set.
The agent answers `{"reply": "…"}` (stored at once), or 202 and later
`POST /api/agent-jobs/{id}/reply`. The POST goes through aiohttp (as WAHA's traffic does), on
sessions the deliverer keeps for its life, on an event loop of its own run by the thread that
delivers. A failed attempt is retried later with exponential backoff and jitter,
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

Who may do what (design 2.5): the channel's `agent_url` is a tenant's. It is reached as
`outbound.py` says (public addresses only, unless `CHATPORT_ALLOW_PRIVATE_URLS`) and may not
name an in-process agent; `CHATPORT_AGENT_URL` is the operator's and may. The channel's WAHA is
reached the same way unless the operator gave its URL (`channels.waha_url_trusted`). Errors on
a job (which its tenant reads) never quote what an agent answered: the status, the body logged.

A job never stops the deliverer: whatever its delivery raises, `SystemExit` or
`KeyboardInterrupt` from an in-process agent included, fails that job only (retried as any
failed attempt) and is logged with its id; `close()` stops the loop. (Signals reach the main
thread only, never the deliverer's: a KeyboardInterrupt in `run_once` called on the main thread
may be Ctrl-C, and is raised.) A claimed job carries a lease token (`store/jobs/agent_jobs.py`):
its outcome is written, its lease renewed before its reply is sent, and its reply stored only
while it still carries that token, so a deliverer whose lease ran out while its agent was slow,
and whose job another deliverer claimed, neither sends nor stores a second reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import logging
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import orjson

from chatport.agent.waking_loop import WakingLoop
from chatport.domain.model import IncomingMessage, Origin
from chatport.errors import SecretKeyError, UrlRefused, WahaError, WahaUnavailable
from chatport.outbound import OPERATOR, Trust, client_session, tenant_trust
from chatport.settings import Settings
from chatport.sources.waha.client import WahaClient, WahaSettings
from chatport.store.channels import WahaAddress, channel_by_id, waha_of
from chatport.store.database import Database
from chatport.store.jobs import agent_jobs
from chatport.store.jobs.wakeups import AGENT_JOBS

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)


class AgentRejected(Exception):
    """The agent answered with an error, or cannot be asked (the message says which)."""


# what a failed attempt raises, as opposed to a bug (logged with its traceback)
_AGENT_FAILURES = (
    AgentRejected,
    UrlRefused,
    aiohttp.ClientError,
    TimeoutError,
    ValueError,
    ImportError,
)


def _interrupts(error: BaseException) -> bool:
    """Whether `error` may be this process being interrupted rather than a job failing: a
    KeyboardInterrupt on the main thread, the only one Python raises signals in (the
    deliverer's own thread never sees one; `close()` stops it)."""
    return (
        isinstance(error, KeyboardInterrupt)
        and threading.current_thread() is threading.main_thread()
    )


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


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
        lease: timedelta = LEASE,
    ) -> None:
        """`lease`: how long a claimed job is this deliverer's before another may claim it
        (longer than an agent's answer and a WAHA send take)."""
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
        self.lease = lease
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
        """Deliver the jobs due at `now`; how many were claimed. Whatever a job's delivery
        raises fails that job only."""
        now = now or datetime.now(UTC)
        with self.database.unit_of_work() as uow:
            claimed = agent_jobs.claim_jobs(uow.connection, now, self.lease)
            uow.commit()
        for job in claimed:
            try:
                self._deliver(job)
            except BaseException as error:  # noqa: BLE001 - a job never stops the deliverer
                if _interrupts(error):
                    raise
                logger.exception("agent job %s: delivering it failed", job.id)
                try:
                    self._failed(job, _described(error))
                except Exception:  # noqa: BLE001 - the job is claimed again when its lease ends
                    logger.exception("agent job %s: recording its failure failed", job.id)
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
            own = agent_jobs.agent_of(connection, job.channel_id)
        if own:  # the tenant's
            agent, trust = own, tenant_trust(self.settings.allow_private_urls)
        else:
            agent, trust = self.settings.agent_url, OPERATOR
        try:
            if job.reply is not None:  # the agent answered; sending it failed last time
                answer = job.reply
            elif not agent:
                raise AgentRejected("no agent: set the channel's agent_url or CHATPORT_AGENT_URL")
            else:
                answer = self._ask(agent, trust, payload)
        except _AGENT_FAILURES as error:
            self._failed(job, _described(error))
            return
        except BaseException as error:  # noqa: BLE001 - an in-process agent may raise anything
            if _interrupts(error):
                raise
            logger.exception("agent job %s: the agent raised", job.id)
            self._failed(job, _described(error))
            return
        if answer is _LATER:
            self._store_outcome(job, agent_jobs.WAITING)
            return
        try:
            deliver_reply(
                self.database, self.settings, job, job.lease_token, answer, lease=self.lease
            )
        except (WahaError, SecretKeyError) as error:  # SecretKeyError: its WAHA key unreadable
            self._failed(job, f"sending the reply through WAHA: {error}", reply=answer)

    def _ask(self, agent: str, trust: Trust, payload: dict[str, Any]) -> str | None | object:
        """The agent's reply text (None: no reply), or `_LATER` when it answers 202."""
        if agent.startswith("python:"):
            if trust.tenant:
                raise AgentRejected(
                    "a channel's agent_url may not name an in-process agent (python:…); "
                    "only CHATPORT_AGENT_URL may"
                )
            module, _, name = agent.removeprefix("python:").partition(":")
            reply = getattr(importlib.import_module(module), name)(payload)
            return reply if isinstance(reply, str) and reply.strip() else None
        body = orjson.dumps(payload)
        headers = {"content-type": "application/json", "x-chatport-job": payload["job_id"]}
        if self.settings.agent_hmac_key:
            digest = hmac.new(self.settings.agent_hmac_key.encode(), body, hashlib.sha256)
            headers["x-chatport-signature"] = f"sha256={digest.hexdigest()}"
        status, content = self._http.post(agent, body, headers, trust)
        if status == 202:
            return _LATER
        if not 200 <= status < 300:
            if content:  # for the server's log only: a tenant reads the job's error
                said = content.decode(errors="replace")[:300]
                logger.warning(
                    "agent job %s: the agent answered %s: %s", payload["job_id"], status, said
                )
            raise AgentRejected(f"agent answered {status}")
        reply = orjson.loads(content).get("reply") if content else None
        return reply if isinstance(reply, str) and reply.strip() else None

    def _failed(self, job: Any, error: str, reply: str | None = None) -> None:
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


_LATER = object()


class _AgentHttp:
    """POSTs to HTTP agents, synchronously, over aiohttp sessions kept for the deliverer's life
    (connections kept alive between jobs; one for the operator's agent, one for tenants'
    agents when those are held to public addresses) on an event loop of its own. One thread at
    a time uses it: the deliverer's, or the caller of `run_once`. `close()` is idempotent."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        # a loop factory: the runner leaves the thread's current event loop alone
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        self._sessions: dict[bool, aiohttp.ClientSession] = {}  # by `Trust.public_only`
        self._closed = False

    def post(
        self, url: str, body: bytes, headers: dict[str, str], trust: Trust = OPERATOR
    ) -> tuple[int, bytes]:
        """The status and body of the answer to POSTing `body` to `url` (no redirects
        followed), connecting only where `trust` allows; raises aiohttp.ClientError,
        UrlRefused or TimeoutError when there is none in time."""
        if self._closed:
            raise RuntimeError("the agent deliverer is closed")
        return self._runner.run(self._post(url, body, headers, trust))

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], trust: Trust
    ) -> tuple[int, bytes]:
        session = self._sessions.get(trust.public_only)
        if session is None:  # created on its loop, inside it
            session = client_session(trust, timeout=self._timeout, trust_env=True)
            self._sessions[trust.public_only] = session
        try:
            async with session.post(
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
            for session in self._sessions.values():
                self._runner.run(session.close())
        finally:
            self._sessions.clear()
            self._runner.close()


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
    """As the holder of the job's lease `token`: send `text` through the job's channel's WAHA
    when it has one (and `agent_send_via_waha`; the lease renewed first), then store it in the
    chat (`store_reply`). False when the job carries another token (another process took it
    over: nothing sent or stored); raises WahaError when sending failed (nothing stored)."""
    sent_id = None
    if text is not None and settings.agent_send_via_waha:
        with database.engine.connect() as connection:
            waha = waha_of(connection, job.channel_id, secrets=database.secrets)
        if waha.url:
            with database.unit_of_work() as uow:
                until = datetime.now(UTC) + lease
                held = agent_jobs.renew_lease(uow.connection, job.id, token, until)
                uow.commit()
            if not held:
                logger.warning(
                    "agent job %s was taken over by another process: its reply is not sent",
                    job.id,
                )
                return False
            sent_id = send_through_waha(waha, job.chat_id, text, settings.allow_private_urls)
    return store_reply(database, job, text, sent_id, token=token)


def send_through_waha(
    waha: WahaAddress, chat_id: str, text: str, allow_private_urls: bool = False
) -> str:
    """Send `text` to the chat through the channel's WAHA (a tenant's URL reached as
    `outbound.py` says, with `allow_private_urls`); the sent message's id (WAHA's echo of it by
    webhook is then the same message, not a second one)."""
    trust = OPERATOR if waha.trusted else tenant_trust(allow_private_urls)
    settings = WahaSettings(
        url=waha.url or "",
        session=waha.session,
        api_key=waha.api_key,
        timeout_seconds=30,
        trust=trust,
    )

    async def send() -> str | None:
        async with WahaClient(settings) as client:
            return await client.send_text(chat_id, text)

    try:
        sent = asyncio.run(send())
    except UrlRefused as refused:
        raise WahaUnavailable(f"POST /api/sendText: {refused}") from None
    if not sent:
        raise WahaUnavailable("WAHA's sendText answer named no message id")
    return sent


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
