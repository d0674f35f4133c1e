"""`chatport demo`: import a simulated WAHA account into ./chatport.db, then import it again."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from chatport.bootstrap import build
from chatport.cli.imports import create_waha_job, run_with_progress
from chatport.cli.options import DbOption, settings_with
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.channels import sessions_follow_the_rule


def demo(
    db: DbOption = None,
    chats: Annotated[int, typer.Option(min=1)] = 300,
    messages_count: Annotated[int, typer.Option("--messages", min=1)] = 20_000,
    seed: int = 1,
    channel: str = "demo",
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Then keep WhatsApp talking (live webhooks) while chatport, then the WhatsApp "
            "session, goes down, and show the catch-ups",
        ),
    ] = False,
    live_rate: Annotated[float, typer.Option(min=0.1, help="--live: messages per second")] = 20,
    outage_seconds: Annotated[float, typer.Option(min=1, help="--live: each outage")] = 5,
) -> None:
    """Start the WAHA simulator in-process, import its history, then import it again.

    Offline. Shows the progress bar and summary of a real import, that a re-import adds
    nothing, and that the stored sessions are exactly the session rule's. With `--live`:
    new messages arrive as webhooks at a chatport server in this process, chatport and then
    the WhatsApp session go down for a while, and the catch-ups bring in what was missed.
    """
    console = Console()
    services = build(settings_with(db))
    try:
        world = World(chats, messages_count, seed)
        if live:
            from chatport.cli.demo_live import live_demo

            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            if not live_demo(services, world, channel, live_rate, outage_seconds, port):
                raise typer.Exit(1)
            return
        with simulator_in_thread(SimulatorConfig(world, api_key="demo")) as url:
            console.print(
                f"[bold]chatport demo[/]: simulated WAHA at {url} ({chats} chats, "
                f"{messages_count:,} messages) -> {services.settings.database_url}"
            )
            outcomes = []
            for run in ("import", "re-import"):
                console.rule(run)
                job = create_waha_job(
                    services, url, "default", "demo", channel, None, datetime.now(UTC), {}
                )
                outcomes.append(run_with_progress(services, job, None, None))
        channel_id = services.database.channel(channel).id
        matches = sessions_follow_the_rule(
            services.database.engine, channel_id, services.database.default_timeout
        )
        verdict = "[green]match[/]" if matches else "[red]DIFFER[/]"
        console.print(f"stored sessions vs the session rule over the whole history: {verdict}")
        if outcomes != ["completed", "completed"] or not matches:
            raise typer.Exit(1)
    finally:
        services.close()
