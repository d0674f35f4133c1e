"""`chatport serve`: the HTTP API (WAHA webhooks, health, metrics) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from chatport.cli.options import DbOption, settings_with


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level")] = "info",
) -> None:
    """Serve the API: point WAHA's webhooks at http://HOST:PORT/webhooks/waha."""
    import uvicorn

    from chatport.api.app import create_app
    from chatport.bootstrap import build

    services = build(settings_with(db))
    try:
        uvicorn.run(create_app(services), host=host, port=port, log_level=log_level)
    finally:
        services.close()
