"""`chatport db upgrade|current`: the packaged Alembic migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from chatport.bootstrap import build_database
from chatport.cli.observe import observed
from chatport.cli.options import DbOption, settings_with
from chatport.cli.output import emit, json_wanted
from chatport.store.channels import table_counts
from chatport.store.migrate import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Create and migrate the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(db: DbOption = None, revision: str = "head") -> None:
    """Apply the migrations (creates the tables on a new database)."""
    database = build_database(settings_with(db), check_schema=False)
    try:
        before = current_revision(database.engine)
        upgrade(database.engine, revision)
        after = current_revision(database.engine)
    finally:
        database.dispose()
    console = Console()
    if before == after:
        console.print(f"database already at revision [bold]{after}[/]")
    else:
        console.print(f"database upgraded from {before or 'nothing'} to [bold]{after}[/]")


@db_app.command("current")
@observed(logs=False, json=True)
def current_command(db: DbOption = None) -> None:
    """Show the schema revision and the row count of each table."""
    database = build_database(settings_with(db), check_schema=False)
    console = Console()
    try:
        revision = current_revision(database.engine)
        if json_wanted():
            counts = {}
            if revision:
                with database.engine.connect() as connection:
                    counts = table_counts(connection)
            emit({"revision": revision, "head": head_revision(), "tables": counts})
            return
        console.print(f"revision: [bold]{revision or 'none'}[/] (newest: {head_revision()})")
        if revision:
            with database.engine.connect() as connection:
                for table, count in table_counts(connection).items():
                    console.print(f"  {table:<14} {count:>10,}")
    finally:
        database.dispose()
