"""`chatport import waha … --catch-up`: bring in what an outage missed, by hand (the server
does it by itself: `ingest.catch_up`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, NoReturn

import typer

from chatport.bootstrap import Services
from chatport.cli.import_report import console, summary
from chatport.cli.options import print_error
from chatport.cli.temporal import _missing_temporal
from chatport.errors import ChatportError
from chatport.ingest.catch_up import begin_catch_up
from chatport.store.jobs import import_jobs as jobs


def catch_up_here(services: Services, channel_id: int, params: dict) -> jobs.ImportJob | None:
    """A new catch-up job of the channel, leased to this process; None (said on the terminal)
    when one is running already, which was asked to run once more when it ends."""
    overlap = timedelta(minutes=services.settings.catchup_overlap_minutes)
    params = {**params, "fetchers": 1}  # a few chats: one fetch process is enough
    begun = begin_catch_up(services.database, channel_id, overlap=overlap, params=params)
    job = begun.job
    if begun.coalesced:
        console.print(
            f"catch-up job {job.id} of this channel is running; it will run once more when "
            "it ends (`chatport import status` follows it)"
        )
        return None
    console.print(f"catch-up job {job.id}: messages since {job.since:%Y-%m-%d %H:%M:%S} UTC")
    return job


def refuse_ranges(catch_up: bool, *ranges: object) -> None:
    """A catch-up chooses its own range and chats."""
    if catch_up and any(value is not None for value in ranges):
        raise typer.BadParameter("--catch-up takes no --days, --since, --until or --chat")


def catch_up_on_temporal(services: Services, channel_id: int, address: str | None) -> NoReturn:
    """Start the channel's catch-up workflow (a running one runs once more), wait for its end
    and show its job; exit with its outcome, without the interpreter's finalisers (as
    `cli.temporal.run_temporal`)."""
    try:
        from chatport.engines.temporal import catch_ups, starter
    except ModuleNotFoundError as error:
        raise _missing_temporal(error) from None
    target = starter.TemporalTarget.of(services.settings, address)
    settings = services.settings.model_copy(update={"temporal_address": target.address})

    async def run() -> Any:
        client = await starter.connect(target)
        started = await catch_ups.start_catch_up(client, settings, channel_id)
        running = " (running: it runs once more)" if started.coalesced else ""
        console.print(f"catch-up workflow {started.workflow_id}{running}")
        return await catch_ups.follow_catch_up(client, started.workflow_id)

    code = 1
    try:
        outcome = asyncio.run(run())
        if outcome.job_id is not None:
            with services.database.engine.connect() as connection:
                summary(jobs.load_job(connection, outcome.job_id), None)
        code = 0 if outcome.status in ("completed", "coalesced") else 1
    except KeyboardInterrupt:
        code = 130
    except ChatportError as error:
        print_error(error)
        code = 2
    except Exception as error:  # noqa: BLE001 - the workflow failed: say why, exit 1
        print_error(f"the catch-up workflow failed: {error}")
    finally:
        services.close()
    starter.exit_now(code)
