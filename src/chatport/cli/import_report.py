"""How an import looks on the terminal: its progress bar, its summary, the jobs table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chatport.cli.output import console, emit, json_wanted
from chatport.domain.progress import ImportProgress, rates
from chatport.ingest.export import ExportReport
from chatport.ingest.history import HistoryReport
from chatport.store.jobs import import_jobs as jobs
from chatport.store.jobs import leases


@contextmanager
def progress_bar() -> Iterator[tuple[Callable[[ImportProgress], None], float]]:
    """A progress bar for the block: yields a function that draws an import's progress
    (chats done of planned, `~` while the plan is an estimate; messages, msg/s, time left)
    and the start time (`time.perf_counter()`)."""
    started = time.perf_counter()
    with Progress(
        TextColumn("chats {task.fields[chats]}"),
        BarColumn(),
        TextColumn("{task.fields[messages]:>10,} msgs  {task.fields[rate]:>8} msg/s"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        console=console,
        disable=json_wanted(),
    ) as bar:
        task = bar.add_task("import", total=None, chats="-", messages=0, rate="-", eta="")

        def show(progress: ImportProgress) -> None:
            pace = rates(progress, time.perf_counter() - started)
            done = progress.chats_done + progress.chats_failed
            total = pace.chats_planned
            about = "~" if pace.chats_planned_estimated else ""
            bar.update(
                task,
                total=total or None,
                completed=done,
                messages=progress.messages,
                rate=f"{pace.messages_per_second:,.0f}",
                chats=f"{done}/{about}{total}" if total else f"{done}/?",
                eta=f"{about}{_duration(pace.eta_seconds)} left" if pace.eta_seconds else "",
            )

        yield show, started


def _duration(seconds: float | None) -> str:
    whole = int(seconds or 0)
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"


_FAILED_SHOWN = 20


def job_document(job: jobs.ImportJob, elapsed: float | None = None) -> dict[str, Any]:
    """An import job as `--json` prints it."""
    counters = job.counters
    document: dict[str, Any] = {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "channel_id": job.channel_id,
        "tenant_id": job.tenant_id,
        "source": job.source,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "chats_done": max(len(job.chats_done), counters.get("chats_done", 0)),
        "chats_failed": max(len(job.failed_chats), counters.get("chats_failed", 0)),
        "counters": counters,
        "failed_chats": job.failed_chats,
    }
    if elapsed is not None:
        handled = counters.get("created", 0) + counters.get("duplicates", 0)
        document["elapsed_seconds"] = round(elapsed, 3)
        document["messages_per_second"] = round(handled / max(elapsed, 1e-9), 1)
    return document


def summary(job: jobs.ImportJob, elapsed: float | None) -> None:
    """The job's summary: a table and its failed chats, or `job_document` under `--json`."""
    if json_wanted():
        emit(job_document(job, elapsed))
        return
    table = Table(title=f"{job.kind} {str(job.id)[:8]} — {leases.shown_status(job)}")
    table.add_column("")
    table.add_column("", justify="right")
    counters = job.counters
    done = max(len(job.chats_done), counters.get("chats_done", 0))  # a catch-up keeps no list
    table.add_row("chats done", f"{done:,}")
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
    if leases.stalled(job):
        seconds = int(leases.STALE_AFTER.total_seconds())
        console.print(f"stalled: {leases.STALLED_HINT.format(seconds=seconds, job=job.id)}")


def jobs_table(rows: list[jobs.ImportJob]) -> None:
    if json_wanted():
        emit([job_document(job) for job in rows])
        return
    table = Table(title="import jobs")
    for column in ("job", "kind", "status", "created", "chats done", "failed", "messages"):
        table.add_column(column)
    for job in rows:
        table.add_row(
            str(job.id)[:8],
            job.kind,
            leases.shown_status(job),
            f"{job.created_at:%Y-%m-%d %H:%M}",
            f"{job.counters.get('chats_done', 0):,}",
            f"{job.counters.get('chats_failed', 0):,}",
            f"{job.counters.get('created', 0):,}",
        )
    console.print(table)


def export_summary(report: ExportReport, *, machine_zone: bool = False) -> None:
    """The summary of an export file's import (`machine_zone`: its times were read in this
    machine's zone, no `--tz` given)."""
    if json_wanted():
        emit(
            {
                "chat": report.chat_id,
                "chat_name": report.chat_name,
                "time_zone": report.zone,
                "zone_guessed": machine_zone,
                "messages_in_file": report.messages,
                **report.result.as_dict(),
                "attachments_found": report.attachments_found,
                "attachments_missing": list(report.attachments_missing),
                "kept_as_text": report.kept_as_text,
            }
        )
        return
    table = Table(title=f"export of {report.chat_name!r}")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("chat", report.chat_id)
    zone = "this machine's" if report.zone == "local" else report.zone
    table.add_row("time zone", f"{zone} (no --tz given)" if machine_zone else zone)
    table.add_row("messages in the file", f"{report.messages:,}")
    result = report.result
    for name in ("created", "duplicates", "invalid", "sessions_created", "contacts_created"):
        table.add_row(name.replace("_", " "), f"{getattr(result, name):,}")
    table.add_row("attachments found", f"{report.attachments_found:,}")
    table.add_row("attachments missing", f"{len(report.attachments_missing):,}")
    console.print(table)
    for name in report.attachments_missing[:_FAILED_SHOWN]:
        console.print(f"[yellow]missing attachment[/] {name}")
    kept = report.kept_as_text
    if kept:
        told = "1 line looked like a header and was kept as text[/] (of the message before it)"
        if kept > 1:
            told = (
                f"{kept:,} lines looked like headers and were kept as text[/] "
                "(of the message before each)"
            )
        console.print(f"[yellow]{told}")


def baileys_summary(report: HistoryReport) -> None:
    """The summary of an import of Baileys history sync payloads."""
    if json_wanted():
        emit(
            {
                "payloads": report.parts,
                "messages": report.messages,
                **report.result.as_dict(),
                "skipped": report.skipped,
                "lid_pairs": report.lid_pairs,
            }
        )
        return
    table = Table(title="Baileys history sync")
    table.add_column("")
    table.add_column("", justify="right")
    result = report.result
    for label, value in (
        ("payloads", report.parts),
        ("messages", report.messages),
        ("created", result.created),
        ("duplicates", result.duplicates),
        ("invalid", result.invalid),
        ("skipped (reactions, protocol)", report.skipped),
        ("new LID pairs", report.lid_pairs),
        ("sessions created", result.sessions_created),
        ("contacts created", result.contacts_created),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
