"""`chatport import waha|export|baileys|status|resume|retry`: history imports.

The WAHA import's channel and job are `waha_channel.py`'s (`create_waha_job` is re-exported
here for the demos); the file imports are `import_files.py`'s."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from chatport.bootstrap import Services, build
from chatport.cli.catch_up import catch_up_here, catch_up_on_temporal, refuse_ranges
from chatport.cli.import_cancel import cancel_import
from chatport.cli.import_files import (
    ChannelOption,
    CreateChannelOption,
    TenantOption,
    import_baileys_file,
    import_export_file,
)
from chatport.cli.import_report import (
    console,
    jobs_table,
    progress_bar,
    summary,
)
from chatport.cli.observe import observed, observing
from chatport.cli.options import DbOption, settings_with
from chatport.cli.temporal import TemporalAddressOption, _missing_temporal, run_temporal
from chatport.cli.waha_channel import chat_in_waha, create_waha_job, remember_channel_waha
from chatport.domain.model import Engine
from chatport.engines.inprocess.runner import run_job
from chatport.ingest import import_jobs
from chatport.ingest.waha.contact import first_contact, waha_settings
from chatport.runtime.heap import for_bulk_work
from chatport.sources.waha.reach import checked_url
from chatport.store.jobs import import_jobs as jobs

__all__ = ["create_waha_job", "import_app", "remember_channel_waha", "run_with_progress"]

import_app = typer.Typer(
    help="Import history: from WAHA, WhatsApp export files, Baileys history sync."
)


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time; naive ones are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date: {text!r} (e.g. 2026-01-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@import_app.command("waha")
@observed(json=True, metrics=True, level="warning")
def import_waha(
    url: Annotated[str, typer.Option(help="WAHA base URL, e.g. http://localhost:3000")],
    session: Annotated[str, typer.Option(help="WAHA session name")] = "default",
    api_key: Annotated[str | None, typer.Option(envvar="WAHA_API_KEY", help="X-Api-Key")] = None,
    channel: ChannelOption = "default",
    tenant: TenantOption = "default",
    create_channel: CreateChannelOption = False,
    days: Annotated[int | None, typer.Option(min=1, help="Only the last N days")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO date (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this ISO date (default: now)")] = None,
    timeout_minutes: Annotated[
        float | None, typer.Option(help="Stop (resumably) after M minutes")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Chats fetched at once")] = 4,
    page_size: Annotated[int, typer.Option(min=1, help="Messages per WAHA request")] = 500,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="Messages per transaction [default: 10,000 on PostgreSQL, 5,000 on SQLite]"
        ),
    ] = None,
    fetchers: Annotated[
        int, typer.Option(min=1, max=16, help="Fetch processes (they share the chats)")
    ] = 2,
    engine: Annotated[
        Engine, typer.Option(help="Run here, or as a workflow on Temporal workers")
    ] = Engine.INPROCESS,
    chat: Annotated[
        str | None,
        typer.Option(help="Import only this chat (e.g. 5511999999999@c.us); WAHA is only read"),
    ] = None,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up",
            help="Only what chatport missed: the chats active since the newest message stored "
            "(minus CHATPORT_CATCHUP_OVERLAP_MINUTES), from then on",
        ),
    ] = False,
    temporal_address: TemporalAddressOption = None,
    db: DbOption = None,
) -> None:
    """Import a WAHA session's history (all chats, or one, or a time range) into a channel."""
    url = checked_url(url)
    refuse_ranges(catch_up, days, since, until, chat)
    if days and since:
        raise typer.BadParameter("give --days or --since, not both")
    start = datetime.now(UTC) - timedelta(days=days) if days else (since and parse_moment(since))
    end = parse_moment(until) if until else datetime.now(UTC)
    if engine is Engine.TEMPORAL:
        _temporal_installed()  # before WAHA is asked
    services = observing(build(settings_with(db)))
    where = {"tenant": tenant, "create": create_channel}
    try:
        # a typo in --channel or --tenant, a WAHA session another channel takes: refused
        # before WAHA is asked; then no job and no channel change unless WAHA answers
        remember_channel_waha(services, url, session, api_key, channel, **where, dry_run=True)
        first_contact(waha_settings(services.settings, url, session, api_key))
        params = {
            "concurrency": concurrency,
            "page_size": page_size,
            "chunk_size": chunk_size,
            "fetchers": fetchers,
            "engine": engine.value,
        }
        if chat is not None:
            params["chats"] = [chat_in_waha(services, url, session, api_key, channel, tenant, chat)]

        if catch_up:
            target = remember_channel_waha(services, url, session, api_key, channel, **where)
            if engine is Engine.TEMPORAL:
                catch_up_on_temporal(services, target.id, temporal_address)
            job = catch_up_here(services, target.id, params)
            if job is not None:
                _exit_unless_completed(run_with_progress(services, job, timeout_minutes, None))
            return

        def create(owner: str | None = None) -> jobs.ImportJob:
            job = create_waha_job(
                services, url, session, api_key, channel, start, end, params, owner, **where
            )
            of_tenant = f" of tenant {tenant!r}" if tenant != "default" else ""
            console.print(f"import job {job.id} into channel {channel!r}{of_tenant}")
            return job

        if engine is Engine.TEMPORAL:
            run_temporal(services, temporal_address, create, timeout=timeout_minutes)
        job = create()
        _exit_unless_completed(run_with_progress(services, job, timeout_minutes, None))
    finally:
        services.close()


def _temporal_installed() -> None:
    try:
        import chatport.engines.temporal.starter  # noqa: F401
    except ModuleNotFoundError as error:
        raise _missing_temporal(error) from None


def _exit_unless_completed(outcome: str) -> None:
    if outcome != "completed":
        raise typer.Exit(1)


@import_app.command("resume")
@observed(json=True, metrics=True, level="warning")
def resume(
    job_id: str,
    db: DbOption = None,
    timeout_minutes: float | None = None,
    temporal_address: TemporalAddressOption = None,
) -> None:
    """Continue an interrupted job from its checkpoints (on the engine that ran it)."""
    _restart(job_id, db, timeout_minutes, temporal_address, retry=False)


@import_app.command("retry")
@observed(json=True, metrics=True, level="warning")
def retry(
    job_id: str,
    db: DbOption = None,
    timeout_minutes: float | None = None,
    temporal_address: TemporalAddressOption = None,
) -> None:
    """Fetch again only the chats the job recorded as failed (on the engine that ran it)."""
    _restart(job_id, db, timeout_minutes, temporal_address, retry=True)


def _restart(
    job_id: str, db: str | None, timeout: float | None, address: str | None, *, retry: bool
) -> None:
    services = observing(build(settings_with(db)))
    try:
        with services.database.engine.connect() as connection:
            stored = jobs.load_job(connection, job_id)
        if retry and not stored.failed_chats:
            console.print("no failed chats to retry")
            return
        engine = import_jobs.engine_of(stored)

        def claim(owner: str | None = None) -> jobs.ImportJob:
            return import_jobs.reopen(services.database, str(stored.id), engine=engine, owner=owner)

        if engine is Engine.TEMPORAL:
            run_temporal(services, address, claim, existing=stored, retry=retry, timeout=timeout)
        job = claim()
        only_chats = set(job.failed_chats) if retry else None
        _exit_unless_completed(run_with_progress(services, job, timeout, only_chats))
    finally:
        services.close()


import_app.command("cancel")(cancel_import)
import_app.command("export")(observed(json=True, level="warning")(import_export_file))
import_app.command("baileys")(observed(json=True, level="warning")(import_baileys_file))


@import_app.command("status")
@observed(logs=False, json=True)
def status(job_id: Annotated[str | None, typer.Argument()] = None, db: DbOption = None) -> None:
    """Show the newest import jobs, or one job in detail."""
    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            if job_id is None:
                jobs_table(jobs.latest_jobs(connection))
            else:
                summary(jobs.load_job(connection, job_id), None)
    finally:
        services.close()


def run_with_progress(
    services: Services, job: jobs.ImportJob, timeout: float | None, only_chats: set[str] | None
) -> str:
    """Run a job here with a progress bar and print its summary; return its final status."""
    for_bulk_work()
    with progress_bar() as (show, started):
        importer = import_jobs.importer_for(services, job, only_chats=only_chats, on_progress=show)
        outcome = run_job(importer, timeout)
    summary(job, time.perf_counter() - started)
    return outcome
