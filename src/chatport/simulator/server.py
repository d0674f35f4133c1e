"""A WAHA-compatible HTTP server over a simulated account (aiohttp), with fault injection.

Serves what chatport reads (see `shared/waha-api.md`): `GET /api/sessions/{s}`,
`/api/{s}/chats/overview`, `/api/{s}/chats`, `/api/{s}/chats/{id}/messages`, `/api/{s}/lids`,
`/lids/count`, `/lids/{lid}`, `/ping`, and `POST /api/sendText` (`sending.py`). Auth by
`X-Api-Key` (or `?x-api-key=`), 401 otherwise; 422 when the session is unknown or not
WORKING; WAHA's defaults (messages: limit 10, newest first, `downloadMedia=true`; overview:
limit 20) and its short pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from chatport.simulator.control import add_live
from chatport.simulator.faults import Faults, fault_injection
from chatport.simulator.live import LiveTraffic
from chatport.simulator.pages import EncodedChat, encoded_chat, with_media
from chatport.simulator.sending import add_sending
from chatport.simulator.world import ME, SimChat, World

_encode = msgspec.json.Encoder().encode


@dataclass
class SimulatorConfig:
    """One simulated WAHA server with one session."""

    world: World
    session: str = "default"
    api_key: str | None = None
    status: str = "WORKING"
    faults: Faults = field(default_factory=Faults)
    overview: bool = True
    """False: answer `/chats/overview` with 404, like a WAHA from before the overview."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    """Messages sent through `POST /api/sendText`, in order."""
    preload: bool = False
    """Encode every chat's pages before serving (benchmarks: the server then costs almost no
    CPU, as a WAHA on its own machine costs the importer none; needs ~700 bytes a message)."""
    live: LiveTraffic | None = None
    """Live mode (`live.py`): new messages as they happen, webhooks, outages on demand."""


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")


def create_app(config: SimulatorConfig) -> web.Application:
    """The aiohttp application of a simulator."""
    app = web.Application(middlewares=[_auth(config), fault_injection(config.faults)])
    handlers = _Handlers(config)
    app.router.add_get("/ping", handlers.ping)
    app.router.add_get("/api/sessions/{session}", handlers.session)
    if config.overview:
        app.router.add_get("/api/{session}/chats/overview", handlers.overview)
    app.router.add_get("/api/{session}/chats", handlers.chats)
    app.router.add_get("/api/{session}/chats/{chat_id}/messages", handlers.messages)
    app.router.add_get("/api/{session}/lids", handlers.lids)
    app.router.add_get("/api/{session}/lids/count", handlers.lid_count)
    app.router.add_get("/api/{session}/lids/pn/{phone}", handlers.lid_of_phone)
    app.router.add_get("/api/{session}/lids/{lid}", handlers.lid)
    add_sending(app, config, json_response)
    if config.live is not None:
        add_live(app, config, json_response)
    return app


def _auth(config: SimulatorConfig):
    @web.middleware
    async def middleware(request: web.Request, handler):
        if config.api_key is not None and request.path != "/ping":
            given = request.headers.get("X-Api-Key") or request.query.get("x-api-key")
            if given != config.api_key:
                return json_response({"message": "Unauthorized", "statusCode": 401}, 401)
        return await handler(request)

    return middleware


def _number(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise web.HTTPBadRequest(
            body=_encode({"statusCode": 400, "message": [f"{name} must be a number"]}),
            content_type="application/json",
        ) from None


class _Handlers:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.world = config.world
        self.last: dict[str, dict[str, Any] | None] = {}
        self.active: dict[str, int] = {}
        for chat in self.world.chats:  # one loop: the second call finds the chat's records cached
            self.last[chat.id] = self.world.last_message(chat)
            self.active[chat.id] = self.world.last_activity(chat)
        by_last = sorted(self.world.chats, key=lambda c: -self.active[c.id])
        self.newest_first = by_last
        chats = by_last if config.preload else []
        self.encoded = {chat.id: EncodedChat(self.world.messages(chat)) for chat in chats}
        self._ordered: tuple[int, list[SimChat]] = (0, by_last)

    def _newest_first(self) -> list[SimChat]:
        """Every chat, newest activity first (live activity first of all)."""
        live = self.config.live
        if live is None or not live.recent:
            return self.newest_first
        version, ordered = self._ordered
        if version != live.version:
            recent = live.recent
            moved = set(recent)
            by_id = self.world.by_id
            ordered = [by_id[c] for c in recent]
            ordered += [c for c in self.newest_first if c.id not in moved]
            self._ordered = (live.version, ordered)
        return ordered

    def _last_and_active(self, chat: SimChat) -> tuple[dict[str, Any] | None, int]:
        """The chat's newest displayable message and newest record's time."""
        live = self.config.live
        records = live.records.get(chat.id) if live is not None else None
        if not records:
            return self.last[chat.id], self.active[chat.id]
        shown = next((r.message for r in reversed(records) if not r.hidden), None)
        return shown or self.last[chat.id], records[-1].timestamp

    def _working(self, request: web.Request) -> web.Response | None:
        session = request.match_info["session"]
        if session != self.config.session:
            return json_response(
                {"error": f'Session "{session}" does not exist', "session": session}, 422
            )
        if self.config.status != "WORKING":
            return json_response(
                {
                    "error": "Session status is not as expected. "
                    "Try again later or restart the session",
                    "session": session,
                    "status": self.config.status,
                    "expected": ["WORKING"],
                },
                422,
            )
        return None

    async def ping(self, request: web.Request) -> web.Response:
        return json_response({"message": "pong"})

    async def session(self, request: web.Request) -> web.Response:
        session = request.match_info["session"]
        if session != self.config.session:
            return json_response(
                {"error": f'Session "{session}" does not exist', "session": session}, 422
            )
        working = self.config.status == "WORKING"
        return json_response(
            {
                "name": session,
                "status": self.config.status,
                "config": {"noweb": {"store": {"enabled": True, "fullSync": False}}},
                "me": {"id": ME, "pushName": "Simulated"} if working else None,
                "engine": {"engine": "NOWEB"},
            }
        )

    async def overview(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        limit = _number(request, "limit", 20)
        offset = _number(request, "offset", 0)
        page = self._newest_first()[offset : offset + limit]
        return json_response([self._summary(chat) for chat in page])

    def _summary(self, chat: SimChat) -> dict[str, Any]:
        last, active = self._last_and_active(chat)
        return {
            "id": chat.id,
            "name": chat.name,
            "picture": None,
            "lastMessage": last,
            "_chat": {
                "id": chat.id,
                "name": chat.name,
                "conversationTimestamp": active,
            },
        }

    async def chats(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        sort_by = request.query.get("sortBy")
        if sort_by not in (None, "conversationTimestamp", "id", "name"):
            return json_response(
                {"statusCode": 400, "message": ["sortBy must be a valid enum"]}, 400
            )
        chats = list(self.world.chats)
        if sort_by == "conversationTimestamp":
            chats = self._newest_first()[::-1]
        elif sort_by in ("id", "name"):
            chats.sort(key=lambda c: getattr(c, sort_by))
        if request.query.get("sortOrder") == "desc":
            chats.reverse()
        offset = _number(request, "offset", 0)
        limit = _number(request, "limit", None)
        page = chats[offset : None if limit is None else offset + limit]
        return json_response(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "conversationTimestamp": self._last_and_active(c)[1],
                }
                for c in page
            ]
        )

    async def messages(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        chat = self.world.by_id.get(request.match_info["chat_id"])
        if chat is None:
            return json_response([])  # NOWEB answers an unknown chat with an empty list
        query = request.query
        limit = _number(request, "limit", 10)
        offset = _number(request, "offset", 0)
        gte = _number(request, "filter.timestamp.gte", None)
        lte = _number(request, "filter.timestamp.lte", None)
        from_me = query.get("filter.fromMe")
        newest_first = query.get("sortOrder", "desc") != "asc"
        download = query.get("downloadMedia", "true") != "false"
        live = self.config.live
        happening = live is not None and chat.id in live.records
        if not download and from_me is None and not happening:
            encoded = self.encoded.get(chat.id) or encoded_chat(self.world, chat)
            page = encoded.page(gte, lte, offset, limit, newest_first)
            return web.Response(body=page, content_type="application/json")
        records = [
            r
            for r in (live.records_of(chat) if live is not None else self.world.messages(chat))
            if (gte is None or r.timestamp >= gte)
            and (lte is None or r.timestamp <= lte)
            and (from_me is None or r.from_me == (from_me == "true"))
        ]
        if newest_first:
            records.reverse()
        page = [r.message for r in records[offset : offset + limit] if not r.hidden]
        if download:
            page = [with_media(m) for m in page]
        return json_response(page)

    async def lids(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        limit = _number(request, "limit", 100)
        offset = _number(request, "offset", 0)
        page = self.world.lids[offset : offset + limit]
        return json_response([{"lid": lid, "pn": pn} for lid, pn in page])

    async def lid_count(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        return json_response({"count": len(self.world.lids)})

    async def lid_of_phone(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        phone = request.match_info["phone"].split("@", 1)[0] + "@c.us"
        lid = next((lid for lid, pn in self.world.lids if pn == phone), None)
        return json_response({"lid": lid, "pn": phone})

    async def lid(self, request: web.Request) -> web.Response:
        if (refused := self._working(request)) is not None:
            return refused
        lid = request.match_info["lid"]
        if "@" not in lid:
            lid += "@lid"
        if not lid.endswith("@lid"):
            return json_response(
                {"statusCode": 422, "message": "Invalid LID - it must end with @lid"}, 422
            )
        return json_response({"lid": lid, "pn": dict(self.world.lids).get(lid)})
