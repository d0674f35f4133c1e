"""`chatport simulate waha`: a WAHA-compatible server over deterministic synthetic history."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Annotated
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import typer
from rich.console import Console

from chatport.runtime import event_loop
from chatport.simulator.live import LiveSettings, LiveTraffic
from chatport.simulator.runner import serve
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World

simulate_app = typer.Typer(help="Run simulated servers for tests, demos and benchmarks.")


@simulate_app.command("waha")
def simulate_waha(
    chats: Annotated[int, typer.Option(min=1, help="Number of chats")] = 200,
    messages: Annotated[int, typer.Option(min=1, help="Messages over all chats")] = 20_000,
    seed: Annotated[int, typer.Option(help="Same seed, same history")] = 1,
    host: str = "127.0.0.1",
    port: int = 3000,
    session: str = "default",
    api_key: Annotated[str | None, typer.Option(help="Require this X-Api-Key")] = None,
    status: Annotated[
        str, typer.Option(help="Session status (WORKING, SCAN_QR_CODE, …)")
    ] = "WORKING",
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of 500 answers")] = 0.0,
    latency_ms: Annotated[int, typer.Option(min=0, help="Delay before every answer")] = 0,
    timeout_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of hung requests")] = 0.0,
    malformed_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of pages of broken JSON")
    ] = 0.0,
    failing_chat: Annotated[
        list[str] | None, typer.Option(help="A chat id that always fails (repeatable)")
    ] = None,
    preload: Annotated[
        bool, typer.Option(help="Encode every page before serving (benchmarks)")
    ] = False,
    down_after: Annotated[
        int | None, typer.Option(min=0, help="Answer 503 to every request after the first N")
    ] = None,
    live_rate: Annotated[
        float,
        typer.Option(
            min=0,
            help="Live mode: new messages per second (1:1, @lid and group chats), sent as "
            "webhooks to --webhook-url; outages on demand with `chatport simulate control`",
        ),
    ] = 0.0,
    webhook_url: Annotated[
        str | None,
        typer.Option(help="Where live webhooks go, e.g. http://127.0.0.1:8000/webhooks/waha"),
    ] = None,
    hmac_key: Annotated[
        str | None, typer.Option(help="Sign live webhooks with this key (HMAC-SHA512, as WAHA)")
    ] = None,
) -> None:
    """Serve WAHA's chats, messages, lids and sessions endpoints until interrupted."""
    faults = Faults(
        error_rate=error_rate,
        latency_ms=latency_ms,
        timeout_rate=timeout_rate,
        malformed_rate=malformed_rate,
        failing_chats=set(failing_chat or ()),
        seed=seed,
        down_after=down_after,
    )
    world = World(chats, messages, seed)
    settings = LiveSettings(rate=live_rate, webhook_url=webhook_url, hmac_key=hmac_key, seed=seed)
    live = LiveTraffic(world, settings, session=session)  # idle until told (rate, control)
    config = SimulatorConfig(
        world,
        session=session,
        api_key=api_key,
        status=status,
        faults=faults,
        preload=preload,
        live=live,
    )
    Console().print(
        f"WAHA simulator on http://{host}:{port} (session {session!r}, {len(world.chats)} chats, "
        f"{messages:,} messages, seed {seed}); Ctrl-C to stop"
    )
    with contextlib.suppress(KeyboardInterrupt):
        event_loop.run(serve(config, host, port))


class Control(StrEnum):
    """What `chatport simulate control` tells a simulator in live mode."""

    STATUS = "status"
    MESSAGES = "messages"
    DROP_WEBHOOKS = "drop-webhooks"
    RESTORE_WEBHOOKS = "restore-webhooks"
    DROP_SESSION = "drop-session"
    RESTORE_SESSION = "restore-session"


_ROUTES = {
    Control.STATUS: ("GET", "/simulator/live"),
    Control.MESSAGES: ("POST", "/simulator/live/messages"),
    Control.DROP_WEBHOOKS: ("POST", "/simulator/live/webhooks/drop"),
    Control.RESTORE_WEBHOOKS: ("POST", "/simulator/live/webhooks/restore"),
    Control.DROP_SESSION: ("POST", "/simulator/live/session/drop"),
    Control.RESTORE_SESSION: ("POST", "/simulator/live/session/restore"),
}


@simulate_app.command("control")
def control(
    action: Annotated[Control, typer.Argument(help="What to do")],
    url: Annotated[str, typer.Option(help="The simulator")] = "http://127.0.0.1:3000",
    seconds: Annotated[
        float | None,
        typer.Option(min=0, help="drop-webhooks / drop-session: restore after this long"),
    ] = None,
    count: Annotated[int, typer.Option(min=1, help="messages: how many, now")] = 1,
    api_key: Annotated[str | None, typer.Option(help="The simulator's X-Api-Key")] = None,
) -> None:
    """Tell a simulator in live mode (`--live-rate`, `--webhook-url`) to create messages now,
    drop its webhooks for a while, or drop its session and restore it (STARTING … WORKING,
    with the session.status webhooks); `status` shows what happened so far."""
    method, path = _ROUTES[action]
    params: dict[str, object] = {"count": count} if action is Control.MESSAGES else {}
    if seconds is not None:
        params["seconds"] = seconds
    headers = {"X-Api-Key": api_key} if api_key else {}
    address = url.rstrip("/") + path + ("?" + urlencode(params) if params else "")
    asking = Request(address, method=method, headers=headers)
    try:
        with urlopen(asking, timeout=30) as answer:
            text = answer.read().decode()
    except HTTPError as refused:
        raise typer.BadParameter(
            f"the simulator answered {refused.code}: {refused.reason}"
        ) from None
    Console().print_json(text)
