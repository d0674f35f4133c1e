"""`chatport demo`: import a simulated WAHA account into ./chatport.db, then import it again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from chatport.bootstrap import build
from chatport.cli.imports import create_waha_job, run_with_progress
from chatport.cli.options import DbOption, settings_with
from chatport.domain.model import Message
from chatport.domain.sessions import partition
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.database import Database
from chatport.store.tables import messages


def demo(
    db: DbOption = None,
    chats: Annotated[int, typer.Option(min=1)] = 300,
    messages_count: Annotated[int, typer.Option("--messages", min=1)] = 20_000,
    seed: int = 1,
    channel: str = "demo",
) -> None:
    """Start the WAHA simulator in-process, import its history, then import it again.

    Offline. Shows the progress bar and summary of a real import, that a re-import adds
    nothing, and that the stored sessions are exactly the session rule's.
    """
    console = Console()
    services = build(settings_with(db))
    try:
        world = World(chats, messages_count, seed)
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
        matches = _sessions_match_the_rule(services.database, channel_id)
        verdict = "[green]match[/]" if matches else "[red]DIFFER[/]"
        console.print(f"stored sessions vs the session rule over the whole history: {verdict}")
        if outcomes != ["completed", "completed"] or not matches:
            raise typer.Exit(1)
    finally:
        services.close()


def _sessions_match_the_rule(database: Database, channel_id: int) -> bool:
    query = select(
        messages.c.external_id, messages.c.chat_id, messages.c.sent_at, messages.c.session_id
    ).where(messages.c.channel_id == channel_id)
    stored: dict[str, dict[str, object]] = {}
    history: dict[str, list[Message]] = {}
    with database.engine.connect() as connection:
        for external_id, chat_id, sent_at, session_id in connection.execute(query):
            stored.setdefault(chat_id, {})[external_id] = session_id
            history.setdefault(chat_id, []).append(
                Message(external_id, chat_id, sent_at, False, None, None, "text", None, None)
            )
    for chat_id, chat_messages in history.items():
        by_session: dict[object, set[str]] = {}
        for external_id, session_id in stored[chat_id].items():
            by_session.setdefault(session_id, set()).add(external_id)
        expected = partition(chat_messages, database.default_timeout)
        if {frozenset(group) for group in by_session.values()} != {
            frozenset(m.external_id for m in session) for session in expected
        }:
            return False
    return True
