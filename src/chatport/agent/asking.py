"""Asking the agent about a job: an HTTP POST, or a Python function of this process.

The agent is the channel's `agent_url`, else `CHATPORT_AGENT_URL`: an HTTP URL, or
`python:module:function` (the operator's only) called with the payload dict in a thread of its
own, returning the reply text or None. Over HTTP the job is POSTed as JSON on sessions kept for
the deliverer's life (`OutboundSessions`), signed (`signing.py`); the agent answers
`{"reply": "…"}`, or 202 and later `POST /api/agent-jobs/{id}/reply`. Every call has a timeout
(`CHATPORT_AGENT_TIMEOUT_SECONDS`): an in-process agent still running then is left to finish
in its (daemon) thread, its answer dropped.

Errors a tenant reads (the job's) never quote what its agent answered: the status, the body
logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from chatport.errors import UrlRefused
from chatport.outbound import Trust, client_session

logger = logging.getLogger(__name__)


class AgentRejected(Exception):
    """The agent answered with an error, or cannot be asked (the message says which)."""


AGENT_FAILURES = (AgentRejected, UrlRefused, aiohttp.ClientError, TimeoutError, ValueError)
"""What a failed attempt raises, as opposed to a bug (logged with its traceback)."""

LATER = object()
"""The agent accepted the job (202) and will post its reply later."""


class OutboundSessions:
    """aiohttp sessions kept for a deliverer's life, one per kind of trust (a tenant's hosts
    held to public addresses, or not: `outbound.py`), each with its own total timeout. Create
    and close it on one event loop."""

    def __init__(self, timeout_seconds: float, headers: dict[str, str] | None = None) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._headers = headers
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def session(self, trust: Trust) -> aiohttp.ClientSession:
        """The session for hosts of `trust` (created on first use, on the running loop)."""
        found = self._sessions.get(trust.public_only)
        if found is None or found.closed:
            found = client_session(
                trust, limit=0, timeout=self.timeout, trust_env=not trust.public_only
            )
            self._sessions[trust.public_only] = found
        return found

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


async def ask_agent(
    agent: str,
    trust: Trust,
    payload: dict[str, Any],
    *,
    sessions: OutboundSessions,
    headers: dict[str, str],
    body: bytes,
) -> str | None | object:
    """The agent's reply text (None: no reply), or `LATER` when it answers 202. `body` is the
    payload as JSON, `headers` its signature."""
    if agent.startswith("python:"):
        if trust.tenant:
            raise AgentRejected(
                "a channel's agent_url may not name an in-process agent (python:…); "
                "only CHATPORT_AGENT_URL may"
            )
        module, _, name = agent.removeprefix("python:").partition(":")
        function = getattr(importlib.import_module(module), name)
        timeout = sessions.timeout.total
        try:
            reply = await asyncio.wait_for(in_thread(function, payload), timeout)
        except TimeoutError:
            raise TimeoutError(f"no answer within {timeout:g} s") from None
        return reply if isinstance(reply, str) and reply.strip() else None
    status, content = await post(sessions, agent, body, headers, trust)
    if status == 202:
        return LATER
    if not 200 <= status < 300:
        if content:  # for the server's log only: a tenant reads the job's error
            said = content.decode(errors="replace")[:300]
            logger.warning(
                "agent job %s: the agent answered %s: %s", payload["job_id"], status, said
            )
        raise AgentRejected(f"agent answered {status}")
    reply = orjson.loads(content).get("reply") if content else None
    return reply if isinstance(reply, str) and reply.strip() else None


async def post(
    sessions: OutboundSessions, url: str, body: bytes, headers: dict[str, str], trust: Trust
) -> tuple[int, bytes]:
    """The status and body of the answer to POSTing `body` to `url` (no redirects followed),
    connecting only where `trust` allows; raises aiohttp.ClientError, UrlRefused or
    TimeoutError when there is none in time."""
    try:
        async with sessions.session(trust).post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            return response.status, await response.read()
    except TimeoutError as error:  # aiohttp's says nothing
        raise TimeoutError(f"no answer within {sessions.timeout.total:g} s") from error


def in_thread(function: Callable[..., Any], *args: Any) -> asyncio.Future:
    """`function(*args)` in a daemon thread of its own: a future of its result, or of whatever
    it raised (SystemExit and KeyboardInterrupt included). A call that never returns holds no
    pool and does not keep the process from exiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(outcome: Any, error: BaseException | None) -> None:
        if future.done():  # timed out meanwhile
            return
        if error is None:
            future.set_result(outcome)
        else:
            future.set_exception(error)

    def run() -> None:
        try:
            outcome = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, whatever it is
            _call_soon(loop, settle, None, error)
        else:
            _call_soon(loop, settle, outcome, None)

    threading.Thread(target=run, name="in-process-agent", daemon=True).start()
    return future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
        loop.call_soon_threadsafe(callback, *args)
