"""`chatport simulate waha`: a WAHA-compatible server over deterministic synthetic history."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.console import Console

from chatport.runtime import event_loop
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
    config = SimulatorConfig(
        world, session=session, api_key=api_key, status=status, faults=faults, preload=preload
    )
    Console().print(
        f"WAHA simulator on http://{host}:{port} (session {session!r}, {len(world.chats)} chats, "
        f"{messages:,} messages, seed {seed}); Ctrl-C to stop"
    )
    with contextlib.suppress(KeyboardInterrupt):
        event_loop.run(serve(config, host, port))
