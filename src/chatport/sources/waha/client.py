"""Async client of the parts of WAHA's HTTP API an import reads (`shared/waha-api.md`).

aiohttp for HTTP and msgspec for JSON: measured here, aiohttp + msgspec decode about 800k
messages/s against about 150k/s for httpx on the same pages, and the import is bound by that.
Each message keeps its raw JSON bytes (no re-encoding on the way to `messages.raw`).
Every GET is `transport.py`'s: transient failures (5xx, timeouts, connection errors, malformed
pages) are retried with exponential backoff and jitter (tenacity); 401, 403 and 422 are not.
Every request goes through the server's circuit breaker (`circuit.py`) but the session check,
a run's first contact, which fails at once when WAHA gives no answer (`reach.py`). A WAHA whose
URL a tenant gave is reached as `outbound.py` says (`WahaSettings.trust`, re-exported here):
public addresses only unless the operator allows private networks, and its answers' bodies
kept out of errors (logged instead).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from chatport.errors import WahaAuthError, WahaSessionNotReady, WahaUnavailable
from chatport.sources.waha.chat_list import WahaChat, activity_of, chat_of
from chatport.sources.waha.messages import UnreadableMessage, WahaPayload, decode_message
from chatport.sources.waha.reach import session_missing
from chatport.sources.waha.transport import NotFound, WahaSettings, WahaTransport

__all__ = ["WahaChat", "WahaClient", "WahaMessage", "WahaSettings", "sent_message_id"]

_decode_page = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode = msgspec.json.Decoder().decode
_STATUS = re.compile(r"[A-Z_]{1,32}")  # WAHA's session statuses: WORKING, SCAN_QR_CODE, …


class WahaMessage(msgspec.Struct, frozen=True, gc=False):
    """A message as WAHA sent it: decoded (`sources.waha.messages.decode_message`; None and the
    `problem` when unreadable), and its JSON text as received."""

    data: WahaPayload | None
    raw: bytes
    problem: str | None = None


class WahaClient(WahaTransport):
    """`async with WahaClient(settings) as waha: ...`; WAHA's routes, on `WahaTransport`."""

    async def check_session(self) -> dict[str, Any]:
        """The session's info: a run's first contact, not through the circuit (a WAHA never
        reached gets no patience). Raises WahaUnreachable (no answer: DNS, refused, TLS,
        timeout; not retried), WahaAuthError (401, 403), WahaSessionNotReady (no such
        session, or not WORKING), WahaUnavailable (5xx through the retries)."""
        session = self.settings.session
        try:
            info = await self._get(
                _decode, f"/api/sessions/{quote(session)}", missing_ok=True, first_contact=True
            )
        except NotFound:
            raise session_missing(self._base, session, 404) from None
        status = info.get("status")
        if status != "WORKING":  # a status word, not whatever the server put there
            shown = f"{status}, " if isinstance(status, str) and _STATUS.fullmatch(status) else ""
            raise WahaSessionNotReady(
                f"WAHA session {self.settings.session!r} is {shown}not WORKING"
            )
        return info

    async def chats(
        self, offset: int = 0, *, active_since: int | None = None
    ) -> AsyncIterator[WahaChat]:
        """Every chat from the `offset`-th, paged until an empty page: from `/chats/overview`
        (newest activity first), or from `/chats` on a WAHA too old to have the overview.
        `active_since` (epoch seconds): only the chats active since then; the listing, newest
        activity first, stops at the first chat older."""
        size = self.settings.chats_page_size
        route, first = "chats/overview", True
        while True:
            order = {}
            if route == "chats" and active_since is not None:
                order = {"sortBy": "conversationTimestamp", "sortOrder": "desc"}
            try:
                page = await self._get(
                    _decode, self._path(route), limit=size, offset=offset, missing_ok=True, **order
                )
            except NotFound:
                if route != "chats/overview" or not first:
                    raise WahaUnavailable(f"GET {self._path(route)}: HTTP 404") from None
                route = "chats"
                continue
            first = False
            if not page:
                return
            for item in page:
                if active_since is not None and activity_of(item) < active_since:
                    return
                yield chat_of(item)
            offset += size

    async def messages(
        self, chat_id: str, *, since: int | None = None, until: int | None = None
    ) -> AsyncIterator[list[WahaMessage]]:
        """The chat's messages in [since, until] (epoch seconds), page by page, newest first,
        each once. Pages may be short while more exist (WAHA drops records after paging), so
        the offset always advances by the page size and only an empty page ends the chat."""
        size = self.settings.page_size
        params: dict[str, Any] = {"limit": size, "downloadMedia": "false", "sortOrder": "desc"}
        if since is not None:
            params["filter.timestamp.gte"] = since
        if until is not None:
            params["filter.timestamp.lte"] = until
        seen: set[str] = set()
        offset = 0
        path = self._path(f"chats/{quote(chat_id, safe='')}/messages")
        while True:
            raws = await self._get(_decode_page, path, offset=offset, **params)
            if not raws:
                return
            page = []
            for raw in raws:
                text = bytes(raw)
                try:
                    data = decode_message(text)
                except UnreadableMessage as error:
                    page.append(WahaMessage(None, text, str(error)))
                    continue
                if data.id not in seen:
                    seen.add(data.id)
                    page.append(WahaMessage(data, text))
            if page:
                yield page
            offset += size

    async def lid_map(self, page_size: int = 1000) -> dict[str, str]:
        """Every known `@lid` -> phone JID mapping of the session (one paged read)."""
        mapping: dict[str, str] = {}
        offset = 0
        while True:
            page = await self._get(_decode, self._path("lids"), limit=page_size, offset=offset)
            if not page:
                return mapping
            mapping.update((item["lid"], item["pn"]) for item in page if item.get("pn"))
            offset += page_size

    async def lid_count(self) -> int | None:
        """How many `@lid` -> phone pairs the session knows (`/lids/count`); None from a WAHA
        without that route."""
        try:
            found = await self._get(_decode, self._path("lids/count"), missing_ok=True)
        except NotFound:
            return None
        count = found.get("count") if isinstance(found, dict) else None
        return count if type(count) is int else None

    async def phone_of_lid(self, lid: str) -> str | None:
        """The phone JID (`…@c.us`) WAHA knows for `lid` (`…@lid`), or None (`pn: null`)."""
        found = await self._get(_decode, self._path(f"lids/{quote(lid)}"))
        phone = found.get("pn") if isinstance(found, dict) else None
        return phone if isinstance(phone, str) and phone.endswith("@c.us") else None

    async def lid_of_phone(self, phone: str) -> str | None:
        """The `@lid` WAHA knows for a phone JID (`…@c.us`), or None (unknown, or a WAHA
        without `/lids/pn`)."""
        digits = phone.split("@", 1)[0]
        try:
            found = await self._get(
                _decode, self._path(f"lids/pn/{quote(digits)}"), missing_ok=True
            )
        except NotFound:
            return None
        lid = found.get("lid") if isinstance(found, dict) else None
        return lid if isinstance(lid, str) and lid.endswith("@lid") else None

    async def has_messages(self, chat_id: str) -> bool:
        """Whether WAHA holds any message of `chat_id` (NOWEB answers an unknown chat with an
        empty page, as it does an empty chat)."""
        path = self._path(f"chats/{quote(chat_id, safe='')}/messages")
        return bool(await self._get(_decode_page, path, limit=1, downloadMedia="false"))

    async def send_text(self, chat_id: str, text: str) -> str | None:
        """Send `text` to `chat_id` (`POST /api/sendText`); the sent message's id as WAHA's
        webhooks will name it, when the answer says. Sent once, never retried: a retry after
        a lost answer could send the text twice."""
        assert self._http is not None, "use the client in `async with`"
        url = self.settings.url.rstrip("/") + "/api/sendText"
        body = {"session": self.settings.session, "chatId": chat_id, "text": text}
        try:
            async with self._http.post(url, json=body, headers=self._headers) as response:
                answer = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as error:
            raise WahaUnavailable(f"POST /api/sendText: {type(error).__name__}: {error}") from None
        if status == 401:
            raise WahaAuthError("WAHA refused the API key (401)")
        if status >= 400:
            failed = f"POST /api/sendText: HTTP {status}"
            raise WahaUnavailable(failed + self._detail(failed, answer))
        return sent_message_id(_decode(answer) if answer else None, chat_id)


def sent_message_id(answer: Any, chat_id: str) -> str | None:
    """The id of a message WAHA answered `sendText` with: `id` (a string, or WEBJS's
    `{_serialized}`), or NOWEB's `key.id` in the `true_<chat>_<id>` form of its webhooks."""
    if not isinstance(answer, dict):
        return None
    found = answer.get("id")
    if isinstance(found, dict):
        found = found.get("_serialized")
    if isinstance(found, str) and found:
        return found
    key = answer.get("key")
    if isinstance(key, dict) and isinstance(key.get("id"), str):
        return f"true_{chat_id}_{key['id']}"
    return None
