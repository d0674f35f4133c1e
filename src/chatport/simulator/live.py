"""The simulator's live mode: WhatsApp keeps happening. New messages appear in the simulated
account at a rate (in 1:1 chats, `@lid` chats and groups, some from the phone), show in the
chats overview and the message pages, and are POSTed to chatport as signed `message.any`
webhooks, as WAHA sends them: HMAC-SHA512 of the body, a few retries, then given up.

Outages on demand: the webhooks can be dropped for a while (the messages still happen), and the
session can drop and come back (`session.status` webhooks STARTING … WORKING; while it is
down the API answers 422 and nothing is delivered, and what happened meanwhile shows once it
works again). `created` lists every displayable message that happened, `lost` those whose
webhook never arrived: a test checks that chatport stored every one of them exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from chatport.simulator.world import ME, Record, SimChat, World, message_record

logger = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
WORKING = "WORKING"


@dataclass
class LiveSettings:
    """How the live mode behaves."""

    rate: float = 0.0
    """New messages per second (0: only those asked for, `create`)."""
    webhook_url: str | None = None
    """Where the webhooks go (None: nowhere; the messages still happen)."""
    hmac_key: str | None = None
    attempts: int = 3
    """Deliveries of a webhook before it is given up (WAHA's default is 15)."""
    retry_seconds: float = 0.2
    seed: int = 1
    numbering: int | None = None
    """Where each chat's live message numbers start past its history (None: from the clock,
    so the ids of two runs differ)."""


@dataclass
class LiveTraffic:
    """New messages and outages of one simulated session (see the module docstring)."""

    world: World
    settings: LiveSettings = field(default_factory=LiveSettings)
    session: str = "default"
    status: str = WORKING
    records: dict[str, list[Record]] = field(default_factory=dict)
    """The live records of each chat (oldest first), beside the world's."""
    recent: list[str] = field(default_factory=list)
    """Chats with live records, newest activity first."""
    created: list[str] = field(default_factory=list)
    """Every displayable message that happened, in order."""
    lost: list[str] = field(default_factory=list)
    """Messages whose webhook was dropped or given up."""
    delivered: int = 0
    pending: int = 0
    dropping: bool = False
    version: int = 0
    """Bumped at every change of the chats' order (the overview caches it)."""
    on_status: Any = None
    """Told of every status change (the simulator's API follows it)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.settings.seed * 7_919)
        start = self.settings.numbering
        if start is None:
            start = (int(time.time()) & 0xFFFF) << 16
        self._counts = {chat.id: chat.message_count + start for chat in self.world.chats}
        self._numbers = itertools.count()
        self._tasks: set[asyncio.Task] = set()
        self._http: aiohttp.ClientSession | None = None

    def records_of(self, chat: SimChat) -> list[Record]:
        """The chat's records, the world's then the live ones."""
        live = self.records.get(chat.id)
        return self.world.messages(chat) + live if live else self.world.messages(chat)

    async def run(self) -> None:
        """Create messages at the settings' rate until cancelled."""
        while True:
            rate = self.settings.rate
            if rate <= 0:
                await asyncio.sleep(0.1)
                continue
            await asyncio.sleep(self._rng.expovariate(rate))
            if self.settings.rate > 0:  # not stopped meanwhile (a stop is exact)
                self.create(1)

    def create(self, count: int, chats: list[str] | None = None) -> list[str]:
        """`count` new messages now (their webhooks are on their way), in random chats (of
        `chats` when given); their ids."""
        made = []
        among = [self.world.by_id[chat] for chat in chats] if chats else self.world.chats
        for _ in range(count):
            chat = self._rng.choice(among)
            number = self._counts[chat.id]
            self._counts[chat.id] = number + 1
            record = message_record(self._rng, chat, number, int(time.time()))
            self.records.setdefault(chat.id, []).append(record)
            if chat.id in self.recent:
                self.recent.remove(chat.id)
            self.recent.insert(0, chat.id)
            self.version += 1
            if record.hidden:  # a reaction or protocol record: no message, no webhook
                continue
            message_id = record.message["id"]
            self.created.append(message_id)
            made.append(message_id)
            self._send("message.any", record.message, message_id)
        return made

    def drop_webhooks(self) -> None:
        """Deliver nothing until `restore_webhooks` (the messages still happen)."""
        self.dropping = True

    def restore_webhooks(self) -> None:
        self.dropping = False

    def drop_session(self) -> None:
        """The session drops (phone offline, container restart): STARTING, told by webhook."""
        self._set_status("STARTING")

    def restore_session(self) -> None:
        """The session works again: WORKING, told by webhook."""
        self._set_status(WORKING)

    async def later(self, seconds: float, action: Any) -> None:
        """Run `action()` after `seconds` (outages for a while, from the command line)."""
        await asyncio.sleep(seconds)
        action()

    def state(self) -> dict[str, Any]:
        """What happened so far."""
        return {
            "status": self.status,
            "rate": self.settings.rate,
            "webhook_url": self.settings.webhook_url,
            "dropping_webhooks": self.dropping,
            "created": len(self.created),
            "delivered": self.delivered,
            "lost": len(self.lost),
            "pending": self.pending,
        }

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def _set_status(self, status: str) -> None:
        before, self.status = self.status, status
        if self.on_status is not None:
            self.on_status(status)
        if before != status:
            stamp = int(time.time() * 1000)
            history = [{"status": s, "timestamp": stamp} for s in (before, status)]
            payload = {"name": self.session, "status": status, "statuses": history}
            self._send("session.status", payload, None)

    def _send(self, event: str, payload: dict[str, Any], message_id: str | None) -> None:
        """Deliver a webhook in the background; a message's is lost when webhooks are
        dropped, the session is down or every attempt failed."""
        url = self.settings.webhook_url
        down = message_id is not None and self.status != WORKING
        if url is None or self.dropping or down:
            if message_id is not None:
                self.lost.append(message_id)
            return
        envelope = {
            "id": f"evt_{secrets.token_hex(8)}{next(self._numbers):08d}",
            "timestamp": int(time.time() * 1000),
            "event": event,
            "session": self.session,
            "me": {"id": ME, "pushName": "Simulated"},
            "payload": payload,
            "engine": "NOWEB",
            "environment": {"version": "2026.7.1", "engine": "NOWEB", "tier": "CORE"},
        }
        self.pending += 1
        task = asyncio.get_running_loop().create_task(self._deliver(url, envelope, message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, envelope: dict[str, Any], message_id: str | None) -> None:
        body = _encode(envelope)
        headers = {
            "content-type": "application/json",
            "User-Agent": "WAHA/2026.7.1 (simulated)",
            "X-Webhook-Request-Id": secrets.token_hex(8),
            "X-Webhook-Timestamp": str(envelope["timestamp"]),
        }
        key = self.settings.hmac_key
        if key:
            signature = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
            headers |= {"X-Webhook-Hmac": signature, "X-Webhook-Hmac-Algorithm": "sha512"}
        try:
            for attempt in range(self.settings.attempts):
                if attempt:
                    await asyncio.sleep(self.settings.retry_seconds * attempt)
                if await self._post(url, body, headers):
                    self.delivered += message_id is not None
                    return
            if message_id is not None:
                self.lost.append(message_id)
        finally:
            self.pending -= 1

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            async with self._http.post(url, data=body, headers=headers) as answer:
                await answer.read()
                return answer.status < 300
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.debug("webhook to %s failed: %s", url, error)
            return False
