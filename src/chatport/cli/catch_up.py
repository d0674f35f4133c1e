"""`chatport import waha … --catch-up`: bring in what an outage missed, by hand (the server
does it by itself: `ingest.catch_up`)."""

from __future__ import annotations

from datetime import timedelta

import typer

from chatport.bootstrap import Services
from chatport.cli.import_report import console
from chatport.domain.model import Engine
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


def refuse_ranges(catch_up: bool, engine: Engine, *ranges: object) -> None:
    """A catch-up chooses its own range and chats; on Temporal it runs as the channel's
    workflow (`chatport serve` with CHATPORT_CATCHUP_ENGINE=temporal)."""
    if catch_up and any(value is not None for value in ranges):
        raise typer.BadParameter("--catch-up takes no --days, --since, --until or --chat")
    if catch_up and engine is Engine.TEMPORAL:
        raise typer.BadParameter(
            "--catch-up runs here; on Temporal, `chatport serve` with "
            "CHATPORT_CATCHUP_ENGINE=temporal (or POST /v1/channels/{channel}/catch-up) starts "
            "the channel's catch-up workflow"
        )
