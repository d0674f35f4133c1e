"""The simulator's `POST /api/sendText` (WAHA's body: `session`, `chatId`, `text`): answers
201 with the sent message (`id` `true_<chatId>_<random>`), as WAHA does, and records it in
`SimulatorConfig.sent` for tests."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from chatport.simulator.world import ME


def add_sending(app: web.Application, config: Any, respond: Any) -> None:
    """Route `POST /api/sendText` of `app` (a simulator with `config`; `respond(body,
    status)` makes its JSON responses)."""

    async def send_text(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return respond({"statusCode": 400, "message": "body is not JSON"}, 400)
        chat, text = body.get("chatId"), body.get("text")
        if not isinstance(chat, str) or not chat or not isinstance(text, str):
            return respond({"statusCode": 400, "message": "chatId and text are required"}, 400)
        session = body.get("session", "default")
        if session != config.session or config.status != "WORKING":
            return respond(
                {"error": f'Session "{session}" is not WORKING', "session": session}, 422
            )
        sent = {
            "id": f"true_{chat}_{secrets.token_hex(10).upper()}",
            "timestamp": int(time.time()),
            "from": ME,
            "to": chat,
            "fromMe": True,
            "body": text,
            "hasMedia": False,
        }
        config.sent.append(sent)
        return respond(sent, 201)

    app.router.add_post("/api/sendText", send_text)
