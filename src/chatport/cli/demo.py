"""`chatport demo`: the write path on synthetic history, shuffled and batched, twice."""

from __future__ import annotations

import random
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from chatport.bootstrap import build
from chatport.cli.options import DbOption, settings_with
from chatport.domain.batch import prepare_batch
from chatport.domain.model import BatchResult, IncomingMessage, Origin
from chatport.domain.sessions import partition
from chatport.store.database import Database
from chatport.store.tables import chats, sessions
from chatport.synthetic import synthetic_history


def demo(
    db: DbOption = None,
    chats_count: Annotated[int, typer.Option("--chats", min=1)] = 200,
    messages_count: Annotated[int, typer.Option("--messages", min=1)] = 20_000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 1_000,
    seed: int = 1,
) -> None:
    """Replay synthetic history through the write path, shuffled and batched, then again.

    Shows that sessions match the one-shot rule whatever the order, and that a re-run adds
    nothing.
    """
    console = Console()
    services = build(settings_with(db))
    try:
        database = services.database
        channel = database.channel()
        history = [
            m
            for chat in synthetic_history(chats_count, messages_count, seed)
            for m in chat.messages
        ]
        shuffled = history[:]
        random.Random(seed).shuffle(shuffled)
        console.print(
            f"[bold]chatport demo[/] on {services.settings.database_url}: "
            f"{len(history):,} messages in {chats_count} chats, shuffled, in batches of about "
            f"{batch_size:,}"
        )
        first, seconds = _replay(console, database, channel, shuffled, batch_size, seed, "import")
        again, _ = _replay(console, database, channel, history, batch_size * 5, seed, "re-run")
        _report(
            console, database, channel.id, history, first, again, seconds, channel.session_timeout
        )
    finally:
        services.close()


def _replay(console, database: Database, channel, messages, batch_size, seed, label):
    rng = random.Random(seed)
    total = BatchResult()
    started = time.perf_counter()
    with Progress(
        TextColumn(f"{label:>7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9} msg/s"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=len(messages), rate="-")
        position = 0
        while position < len(messages):
            size = rng.randint(1, batch_size * 2)
            batch = messages[position : position + size]
            total.add(database.write_batch(channel, batch, origin=Origin.IMPORT))
            position += len(batch)
            elapsed = time.perf_counter() - started
            progress.update(task, completed=position, rate=f"{position / elapsed:,.0f}")
    return total, time.perf_counter() - started


def _report(console, database, channel_id, history, first, again, seconds, timeout) -> None:
    expected_sessions = 0
    by_chat: dict[str, list[IncomingMessage]] = {}
    for message in history:
        by_chat.setdefault(message.chat_id, []).append(message)
    for chat_messages in by_chat.values():
        expected_sessions += len(partition(prepare_batch(chat_messages).messages, timeout))
    with database.engine.connect() as connection:
        stored_sessions = connection.execute(
            select(func.count())
            .select_from(sessions)
            .where(sessions.c.channel_id == channel_id, sessions.c.chat_id.in_(list(by_chat)))
        ).scalar_one()
        busiest = connection.execute(
            select(
                chats.c.chat_id, chats.c.name, chats.c.last_message_text, func.count(sessions.c.id)
            )
            .join(
                sessions,
                (sessions.c.channel_id == chats.c.channel_id)
                & (sessions.c.chat_id == chats.c.chat_id),
            )
            .where(chats.c.channel_id == channel_id)
            .group_by(chats.c.chat_id, chats.c.name, chats.c.last_message_text)
            .order_by(func.count(sessions.c.id).desc(), chats.c.chat_id)
            .limit(5)
        ).all()
    table = Table(title="write path")
    table.add_column("")
    table.add_column("shuffled import", justify="right")
    table.add_column("re-run", justify="right")
    for name, value in first.as_dict().items():
        table.add_row(name, f"{value:,}", f"{again.as_dict()[name]:,}")
    console.print(table)
    console.print(f"import rate: {len(history) / seconds:,.0f} messages/s")
    verdict = "[green]match[/]" if stored_sessions == expected_sessions else "[red]DIFFER[/]"
    console.print(
        f"sessions stored: {stored_sessions:,}; one-shot rule over the whole history: "
        f"{expected_sessions:,} -> {verdict}"
    )
    chats_table = Table(title="busiest chats")
    for column in ("chat", "name", "sessions", "last message"):
        chats_table.add_column(column)
    for chat_id, name, text, count in busiest:
        chats_table.add_row(chat_id, name or "", str(count), (text or "")[:40])
    console.print(chats_table)
    if stored_sessions != expected_sessions:
        raise typer.Exit(1)
