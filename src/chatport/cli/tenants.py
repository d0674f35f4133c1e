"""`chatport tenants list|update`: tenants, and the tenant level of the session timeout
(global -> tenant -> channel)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from chatport.bootstrap import build
from chatport.cli.channels import JsonOption, console
from chatport.cli.options import DbOption, settings_with
from chatport.store import channel_admin

tenants_app = typer.Typer(help="Tenants: their session timeout.", no_args_is_help=True)


@tenants_app.command("list")
def list_tenants(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Tenants and their session timeout."""
    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            rows = channel_admin.all_tenants(connection)
    finally:
        services.close()
    found = [
        {
            "name": row.name,
            "session_timeout_minutes": row.session_timeout_seconds / 60
            if row.session_timeout_seconds
            else None,
        }
        for row in rows
    ]
    if as_json:
        print(json.dumps(found))
        return
    table = Table("tenant", "session timeout (min)", title="tenants")
    for item in found:
        minutes = item["session_timeout_minutes"]
        table.add_row(item["name"], "global" if minutes is None else f"{minutes:g}")
    console.print(table)


@tenants_app.command("update")
def update_tenant(
    name: Annotated[str, typer.Argument(help="The tenant")],
    session_timeout_minutes: Annotated[
        float | None,
        typer.Option(min=0.1, help="For its channels without their own", show_default=False),
    ] = None,
    clear_session_timeout: Annotated[
        bool,
        typer.Option("--clear-session-timeout", help="Back to CHATPORT_SESSION_TIMEOUT_MINUTES"),
    ] = False,
    db: DbOption = None,
) -> None:
    """Set a tenant's session timeout (global -> tenant -> channel: a channel's own wins)."""
    if (session_timeout_minutes is None) == (not clear_session_timeout):
        raise typer.BadParameter("give --session-timeout-minutes or --clear-session-timeout")
    services = build(settings_with(db))
    try:
        with services.database.unit_of_work() as uow:
            owner = channel_admin.tenant_settings(uow.connection, name)
            channel_admin.set_tenant_timeout(uow.connection, owner.id, session_timeout_minutes)
            uow.commit()
    finally:
        services.close()
    shown = "global" if session_timeout_minutes is None else f"{session_timeout_minutes:g} min"
    console.print(f"tenant {name!r}: session timeout {shown}")
