"""`chatport import cancel JOB`: stop an import job for good."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from chatport.bootstrap import build
from chatport.cli.options import DbOption, settings_with
from chatport.cli.temporal import TemporalAddressOption


def cancel_import(
    job_id: Annotated[str, typer.Argument(help="The job's id (or its first characters)")],
    db: DbOption = None,
    temporal_address: TemporalAddressOption = None,
) -> None:
    """Cancel a running or interrupted import job: `cancelled` for good (not resumed nor
    retried); its run, here, in another process or on Temporal, stops at its next chunk."""
    from chatport.engines.cancel import cancel_import as cancel

    services = build(settings_with(db))
    try:
        job = cancel(services, job_id, temporal_address=temporal_address)
    finally:
        services.close()
    Console().print(f"import job {job.id} cancelled", highlight=False)
