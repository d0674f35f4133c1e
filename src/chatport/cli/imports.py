"""`chatport import waha|status|resume|retry`: history imports with a progress bar."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from chatport.bootstrap import Services, build
from chatport.cli.options import DbOption, settings_with
from chatport.errors import NotFoundError
from chatport.ingest import import_jobs
from chatport.ingest.waha_import import Progress as ImportProgress
from chatport.ingest.waha_import import run_job
from chatport.store import jobs, queries

import_app = typer.Typer(help="Import history: WAHA today; exports and Baileys later.")
console = Console()


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time; naive ones are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date: {text!r} (e.g. 2026-01-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@import_app.command("waha")
def import_waha(
    url: Annotated[str, typer.Option(help="WAHA base URL, e.g. http://localhost:3000")],
    session: Annotated[str, typer.Option(help="WAHA session name")] = "default",
    api_key: Annotated[str | None, typer.Option(envvar="WAHA_API_KEY", help="X-Api-Key")] = None,
    channel: Annotated[str, typer.Option(help="chatport channel to import into")] = "default",
    days: Annotated[int | None, typer.Option(min=1, help="Only the last N days")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO date (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this ISO date (default: now)")] = None,
    timeout_minutes: Annotated[
        float | None, typer.Option(help="Stop (resumably) after M minutes")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Chats fetched at once")] = 4,
    page_size: Annotated[int, typer.Option(min=1, help="Messages per WAHA request")] = 500,
    chunk_size: Annotated[int, typer.Option(min=1, help="Messages per transaction")] = 5_000,
    fetchers: Annotated[
        int, typer.Option(min=1, max=16, help="Fetch processes (they share the chats)")
    ] = 2,
    db: DbOption = None,
) -> None:
    """Import a WAHA session's history (all chats, or a time range) into a channel."""
    if days and since:
        raise typer.BadParameter("give --days or --since, not both")
    start = datetime.now(UTC) - timedelta(days=days) if days else (since and parse_moment(since))
    end = parse_moment(until) if until else datetime.now(UTC)
    services = build(settings_with(db))
    try:
        params = {
            "concurrency": concurrency,
            "page_size": page_size,
            "chunk_size": chunk_size,
            "fetchers": fetchers,
        }
        job = create_waha_job(services, url, session, api_key, channel, start, end, params)
        console.print(f"import job {job.id} into channel {channel!r}")
        _exit_unless_completed(run_with_progress(services, job, timeout_minutes, None))
    finally:
        services.close()


def create_waha_job(
    services: Services,
    url: str,
    session: str,
    api_key: str | None,
    channel: str,
    since: datetime | None,
    until: datetime,
    params: dict,
) -> jobs.ImportJob:
    """A new WAHA import job for `channel` (created if new), WAHA's address remembered."""
    with services.database.unit_of_work() as uow:
        try:
            target = uow.channel(channel)
        except NotFoundError:
            target = uow.create_channel(channel, waha_session=session)
        queries.remember_waha(uow.connection, target, url, session, api_key)
        uow.commit()
    return import_jobs.create_job(services.database, target, since, until, params)


def _exit_unless_completed(outcome: str) -> None:
    if outcome != "completed":
        raise typer.Exit(1)


@import_app.command("resume")
def resume(job_id: str, db: DbOption = None, timeout_minutes: float | None = None) -> None:
    """Continue an interrupted job from its checkpoints."""
    services = build(settings_with(db))
    try:
        job = import_jobs.reopen(services.database, job_id)
        _exit_unless_completed(run_with_progress(services, job, timeout_minutes, None))
    finally:
        services.close()


@import_app.command("retry")
def retry(job_id: str, db: DbOption = None, timeout_minutes: float | None = None) -> None:
    """Fetch again only the chats the job recorded as failed."""
    services = build(settings_with(db))
    try:
        job = import_jobs.reopen(services.database, job_id)
        if not job.failed_chats:
            console.print("no failed chats to retry")
            return
        outcome = run_with_progress(services, job, timeout_minutes, set(job.failed_chats))
        _exit_unless_completed(outcome)
    finally:
        services.close()


@import_app.command("status")
def status(job_id: Annotated[str | None, typer.Argument()] = None, db: DbOption = None) -> None:
    """Show the newest import jobs, or one job in detail."""
    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            if job_id is None:
                _jobs_table(jobs.latest_jobs(connection))
            else:
                _summary(jobs.load_job(connection, job_id), None)
    finally:
        services.close()


def run_with_progress(
    services: Services, job: jobs.ImportJob, timeout: float | None, only_chats: set[str] | None
) -> str:
    """Run a job with a progress bar and print its summary; return its final status."""
    started = time.perf_counter()
    with Progress(
        TextColumn("chats {task.fields[chats]}"),
        BarColumn(),
        TextColumn("{task.fields[messages]:>10,} msgs  {task.fields[rate]:>8} msg/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("import", total=None, chats="-", messages=0, rate="-")

        def show(progress: ImportProgress) -> None:
            total = progress.chats_seen if progress.chats_listed else None
            done = progress.chats_done + progress.chats_failed
            rate = progress.messages / max(time.perf_counter() - started, 1e-9)
            bar.update(
                task,
                total=total,
                completed=done,
                messages=progress.messages,
                rate=f"{rate:,.0f}",
                chats=f"{done}/{total if total is not None else '?'}",
            )

        importer = import_jobs.importer_for(services, job, only_chats=only_chats, on_progress=show)
        outcome = run_job(importer, timeout)
    _summary(job, time.perf_counter() - started)
    return outcome


_FAILED_SHOWN = 20


def _summary(job: jobs.ImportJob, elapsed: float | None) -> None:
    table = Table(title=f"import {str(job.id)[:8]} — {job.status}")
    table.add_column("")
    table.add_column("", justify="right")
    counters = job.counters
    table.add_row("chats done", f"{len(job.chats_done):,}")
    table.add_row("chats failed", f"{len(job.failed_chats):,}")
    for name in (
        "created",
        "duplicates",
        "invalid",
        "sessions_created",
        "sessions_merged",
        "contacts_created",
    ):
        table.add_row(name.replace("_", " "), f"{counters.get(name, 0):,}")
    if elapsed is not None:
        table.add_row("elapsed", f"{elapsed:,.1f} s")
        handled = counters.get("created", 0) + counters.get("duplicates", 0)
        table.add_row("msg/s", f"{handled / max(elapsed, 1e-9):,.0f}")
    console.print(table)
    failed = sorted(job.failed_chats.items())
    for chat_id, error in failed[:_FAILED_SHOWN]:
        console.print(f"[red]failed[/] {chat_id}: {error}")
    if len(failed) > _FAILED_SHOWN:
        console.print(f"[red]… and {len(failed) - _FAILED_SHOWN:,} more failed chats[/]")
    if job.error:
        console.print(f"[red]{job.error}[/]")
    if job.failed_chats:
        console.print(f"retry them with: chatport import retry {str(job.id)[:8]}")


def _jobs_table(rows: list[jobs.ImportJob]) -> None:
    table = Table(title="import jobs")
    for column in ("job", "status", "created", "chats done", "failed", "messages"):
        table.add_column(column)
    for job in rows:
        table.add_row(
            str(job.id)[:8],
            job.status,
            f"{job.created_at:%Y-%m-%d %H:%M}",
            f"{job.counters.get('chats_done', 0):,}",
            f"{job.counters.get('chats_failed', 0):,}",
            f"{job.counters.get('created', 0):,}",
        )
    console.print(table)
