"""`chatport agent`: the AI agent's jobs (bursts of bubbles, one job each)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from chatport.cli.observe import observed
from chatport.cli.options import DbOption, settings_with
from chatport.cli.output import emit, json_wanted

agent_app = typer.Typer(help="The AI agent's jobs.", no_args_is_help=True)
console = Console()


@agent_app.command("jobs")
@observed(logs=False, json=True)
def jobs(
    status: Annotated[
        str | None,
        typer.Option(
            help="Only jobs in this status: pending, delivering, waiting, replied, failed"
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first")] = 50,
    db: DbOption = None,
) -> None:
    """List agent jobs, newest first: chat, burst size, status, attempts, reply or error."""
    from chatport.bootstrap import build
    from chatport.store.jobs import agent_jobs

    if status is not None and status not in agent_jobs.STATUSES:
        raise typer.BadParameter(f"status must be one of {', '.join(agent_jobs.STATUSES)}")
    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            rows = agent_jobs.list_jobs(connection, status=status, limit=limit)
    finally:
        services.close()
    if json_wanted():
        emit([_job_document(row) for row in rows])
        return
    table = Table("job", "chat", "bubbles", "status", "attempts", "created", "reply / error")
    for row in rows:
        outcome = row.reply if row.reply is not None else (row.error or "")
        table.add_row(
            str(row.id)[:8],
            row.chat_id,
            str(len(row.message_ids)),
            row.status,
            str(row.attempts),
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            outcome[:60],
        )
    console.print(table)
    console.print(f"{len(rows)} job(s)", style="dim")


def _job_document(row: Any) -> dict[str, Any]:
    """An agent job as `--json` prints it."""
    return {
        "id": str(row.id),
        "channel_id": row.channel_id,
        "chat_id": row.chat_id,
        "status": row.status,
        "attempts": row.attempts,
        "message_ids": list(row.message_ids),
        "reply": row.reply,
        "error": row.error,
        "created_at": row.created_at,
    }
