"""The `chatport` command line (Typer + Rich). Each command: settings -> build -> use case."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from chatport import __version__
from chatport.cli.agent import agent_app
from chatport.cli.db import db_app
from chatport.cli.demo import demo
from chatport.cli.imports import import_app
from chatport.cli.keys import keys_app
from chatport.cli.options import print_error
from chatport.cli.secret_keys import secrets_app
from chatport.cli.serve import serve
from chatport.cli.simulate import simulate_app
from chatport.cli.temporal import temporal_app, worker
from chatport.errors import ChatportError

app = typer.Typer(
    name="chatport",
    help="Bring WhatsApp conversations into a CRM database, and keep them there.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(simulate_app, name="simulate")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(secrets_app, name="secrets")
app.add_typer(agent_app, name="agent")
app.add_typer(temporal_app, name="temporal")
app.command()(demo)
app.command()(serve)
app.command()(worker)


@app.command()
def version() -> None:
    """Print chatport's version."""
    Console().print(f"chatport {__version__}")


def _print_version(wanted: bool) -> None:
    if wanted:
        version()
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    pass


def main() -> None:
    """Console-script entry point: run the app, turning chatport errors into clear messages."""
    try:
        app()
    except ChatportError as error:
        print_error(error)
        sys.exit(2)
