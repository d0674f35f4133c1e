"""`chatport keys`: API keys of tenants."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chatport.cli.observe import observed
from chatport.cli.options import DbOption, settings_with
from chatport.cli.output import emit, json_wanted

keys_app = typer.Typer(help="API keys of tenants (the REST API's X-Api-Key).", no_args_is_help=True)
console = Console()


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="Tenant name (created when missing)")],
    name: Annotated[str | None, typer.Option(help="A label for the key")] = None,
    db: DbOption = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from chatport.bootstrap import build
    from chatport.store import tenants

    services = build(settings_with(db))
    try:
        with services.database.unit_of_work() as uow:
            owner, created = tenants.ensure_tenant(uow.connection, tenant)
            key = tenants.create_key(uow.connection, owner, name)
            uow.commit()
    finally:
        services.close()
    if created:
        console.print(f"created tenant {tenant!r}", style="dim")
    console.print(key, soft_wrap=True, highlight=False)
    console.print("keep it now: it cannot be shown again", style="dim")


@keys_app.command("list")
@observed(logs=False, json=True)
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys")] = None,
    db: DbOption = None,
) -> None:
    """Keys by prefix (the keys themselves are not stored)."""
    from chatport.bootstrap import build
    from chatport.store import tenants

    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            rows = tenants.list_keys(connection, tenant)
    finally:
        services.close()
    if json_wanted():
        emit([dataclasses.asdict(key) for key in rows])
        return
    table = Table(title="API keys")
    for column in ("prefix", "tenant", "name", "created", "revoked"):
        table.add_column(column)
    for key in rows:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        table.add_row(
            key.prefix, key.tenant, key.name or "", f"{key.created_at:%Y-%m-%d %H:%M}", revoked
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    prefix: Annotated[str, typer.Argument(help="The key's first characters (as listed)")],
    db: DbOption = None,
) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    from chatport.bootstrap import build
    from chatport.store import tenants

    services = build(settings_with(db))
    try:
        with services.database.unit_of_work() as uow:
            count = tenants.revoke_key(uow.connection, prefix)
            uow.commit()
    finally:
        services.close()
    console.print(f"revoked {count} key{'s' if count > 1 else ''}")
