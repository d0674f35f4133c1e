"""`chatport serve`: the HTTP API (WAHA webhooks, REST, health, metrics) and the web console
under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from chatport.cli.observe import LogFormatOption, LogLevelOption, start_logging
from chatport.cli.options import DbOption, settings_with


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes, each with its own live writer (PostgreSQL; SQLite has "
            "one writer at a time, so more processes only wait on each other)",
        ),
    ] = 1,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Serve the API and the web console: point WAHA's webhooks at
    http://HOST:PORT/webhooks/waha; open http://HOST:PORT/ and sign in with an API key."""
    import os

    import uvicorn

    settings = settings_with(db)
    level = log_level or settings.log_level
    format = log_format or settings.log_format
    os.environ["CHATPORT_DATABASE_URL"] = settings.database_url  # for every worker process
    os.environ["CHATPORT_LOG_LEVEL"], os.environ["CHATPORT_LOG_FORMAT"] = level, format
    start_logging(level, format)
    from chatport.bootstrap import build, security_warnings

    services = build(settings)  # migrate (SQLite) or check the schema once, before any worker
    try:
        security_warnings(services)  # once, not in each worker
    finally:
        services.close()
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"console at http://{shown}:{port}/ · WAHA webhooks to http://{shown}:{port}/webhooks/waha"
    )
    uvicorn.run(
        "chatport.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=level,
        log_config=None,  # uvicorn's loggers write through ours (`logs.configure`)
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


SHUTDOWN_GRACE_SECONDS = 4
"""How long a stopping server lets requests under way (and event streams) finish before it
cancels them; its services stop after, within seconds (`bootstrap.serve_services`)."""
