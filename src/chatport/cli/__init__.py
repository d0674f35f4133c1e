"""The `chatport` command line (Typer + Rich). Each command: settings -> build -> use case."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from chatport import __version__
from chatport.cli.agent import agent_app
from chatport.cli.channels import channels_app
from chatport.cli.db import db_app
from chatport.cli.demo import demo
from chatport.cli.failures import DEBUG_HELP, ChatportGroup
from chatport.cli.imports import import_app
from chatport.cli.keys import keys_app
from chatport.cli.secret_keys import secrets_app
from chatport.cli.serve import serve
from chatport.cli.simulate import simulate_app
from chatport.cli.temporal import temporal_app, worker
from chatport.cli.tenants import tenants_app

app = typer.Typer(
    name="chatport",
    cls=ChatportGroup,
    help="Bring WhatsApp conversations into a CRM database, and keep them there.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(simulate_app, name="simulate")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(channels_app, name="channels")
app.add_typer(tenants_app, name="tenants")
app.add_typer(secrets_app, name="secrets")
app.add_typer(agent_app, name="agent")
app.add_typer(temporal_app, name="temporal")
app.command()(demo)
app.command()(serve)
app.command()(worker)


def _print_version(wanted: bool) -> None:
    if wanted:
        version()
        raise typer.Exit()


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="CHATPORT_DEBUG", help=DEBUG_HELP)
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """Bring WhatsApp conversations into a CRM database, and keep them there."""
    # `debug` is read by ChatportGroup when a command fails


@app.command()
def version() -> None:
    """Print chatport's version."""
    Console().print(f"chatport {__version__}")


def main() -> None:
    """Console-script entry point (the app's group reports expected errors in one line:
    `cli/failures.py`)."""
    app()
