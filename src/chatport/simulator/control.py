"""The live mode's control routes (`/simulator/live/…`, behind the simulator's API key): what
happened so far, messages now, webhooks and the session dropped and restored, the rate and the
webhook URL changed. `chatport simulate control` calls them; tests and the demo too."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


def add_live(app: web.Application, config: Any, respond: Any) -> None:
    """Run `config.live` with `app` (its messages at its rate) and route its controls."""
    live = config.live
    live.status = config.status
    running: list[asyncio.Task] = []

    def set_status(status: str) -> None:
        config.status = status  # what the API answers follows the session

    live.on_status = set_status

    async def start(app: web.Application) -> None:
        running.append(asyncio.get_running_loop().create_task(live.run()))

    async def stop(app: web.Application) -> None:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await live.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)

    def seconds(request: web.Request) -> float | None:
        value = request.query.get("seconds")
        return float(value) if value else None

    def for_a_while(request: web.Request, drop: Any, restore: Any) -> None:
        drop()
        wait = seconds(request)
        if wait is not None:
            task = asyncio.get_running_loop().create_task(live.later(wait, restore))
            running.append(task)

    async def state(request: web.Request) -> web.Response:
        return respond({**live.state(), "requests": config.faults.requests})

    async def messages(request: web.Request) -> web.Response:
        count = max(0, min(int(request.query.get("count", "1")), 10_000))
        chats = [chat for chat in request.query.getall("chat", []) if chat in live.world.by_id]
        return respond({"created": live.create(count, chats or None)}, 201)

    async def drop_webhooks(request: web.Request) -> web.Response:
        for_a_while(request, live.drop_webhooks, live.restore_webhooks)
        return respond(live.state())

    async def restore_webhooks(request: web.Request) -> web.Response:
        live.restore_webhooks()
        return respond(live.state())

    async def drop_session(request: web.Request) -> web.Response:
        for_a_while(request, live.drop_session, live.restore_session)
        return respond(live.state())

    async def restore_session(request: web.Request) -> web.Response:
        live.restore_session()
        return respond(live.state())

    async def settings(request: web.Request) -> web.Response:
        body = await request.json()
        if "rate" in body:
            live.settings.rate = max(0.0, float(body["rate"]))
        if "webhook_url" in body:
            live.settings.webhook_url = body["webhook_url"] or None
        return respond(live.state())

    app.router.add_get("/simulator/live", state)
    app.router.add_post("/simulator/live/messages", messages)
    app.router.add_post("/simulator/live/webhooks/drop", drop_webhooks)
    app.router.add_post("/simulator/live/webhooks/restore", restore_webhooks)
    app.router.add_post("/simulator/live/session/drop", drop_session)
    app.router.add_post("/simulator/live/session/restore", restore_session)
    app.router.add_patch("/simulator/live", settings)
