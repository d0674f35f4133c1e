"""`chatport channels list|show|create|update|delete`: channels and their settings."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from chatport.bootstrap import build
from chatport.cli.options import DbOption, settings_with
from chatport.errors import ChatportError, NotFoundError
from chatport.outbound import tenant_url_form
from chatport.store import channel_admin, channels
from chatport.store.reads import api as reads
from chatport.store.reads import console as console_reads
from chatport.store.tenants import ensure_tenant

channels_app = typer.Typer(
    help="Channels: list, show, create, change, delete.", no_args_is_help=True
)
console = Console()


class ChannelExists(ChatportError):
    """`channels create` of a name the tenant has."""


TenantOption = Annotated[str, typer.Option(help="The channel's tenant")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
Text = Annotated[str | None, typer.Option(show_default=False)]


def _settings(
    waha_url: str | None,
    waha_session: str | None,
    waha_api_key: str | None,
    session_timeout_minutes: float | None,
    webhook_hmac_key: str | None,
    agent_url: str | None,
    debounce_quiet_ms: int | None,
    debounce_max_wait_ms: int | None,
    agent_groups: bool | None,
    handoff_minutes: int | None,
    clear: list[str] | None,
) -> dict[str, Any]:
    """The settings given (and those `--clear`ed, as None), checked."""
    given = {
        name: value
        for name, value in locals().items()
        if name in channel_admin.SETTINGS and value is not None
    }
    for name in clear or []:
        setting = name.replace("-", "_")
        if setting not in channel_admin.SETTINGS:
            known = ", ".join(s.replace("_", "-") for s in channel_admin.SETTINGS)
            raise typer.BadParameter(f"--clear {name}: not a setting (one of {known})")
        if setting in given:
            raise typer.BadParameter(f"--clear {name} and --{name}: give one")
        given[setting] = None
    if given.get("waha_url") and not given["waha_url"].startswith(("http://", "https://")):
        raise typer.BadParameter(f"--waha-url {given['waha_url']!r}: give http:// or https://")
    if given.get("agent_url"):
        try:
            given["agent_url"] = tenant_url_form(given["agent_url"])
        except ValueError as refused:
            raise typer.BadParameter(f"--agent-url: {refused}") from None
    return given


@channels_app.command("list")
def list_channels(
    tenant: TenantOption = "default", as_json: JsonOption = False, db: DbOption = None
) -> None:
    """The tenant's channels."""
    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            owner = channel_admin.tenant_settings(connection, tenant)
            rows = reads.tenant_channels(connection, owner.id)
            summaries = console_reads.channel_summaries(connection, owner.id)
    finally:
        services.close()
    found = [
        {**_shown(row), "chats": summaries[row.id].chats if row.id in summaries else 0}
        for row in rows
    ]
    if as_json:
        print(json.dumps(found, default=str))
        return
    table = Table(title=f"channels of {tenant}")
    for column in ("name", "WAHA", "session", "status", "agent", "chats"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item["name"],
            item["waha_url"] or "—",
            item["waha_session"],
            item["status"] or "unknown",
            "yes" if item["has_agent"] else "no",
            str(item["chats"]),
        )
    console.print(table)


@channels_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The channel")],
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """One channel's settings, with the session timeout in force and where it comes from."""
    settings = settings_with(db)
    services = build(settings)
    try:
        with services.database.engine.connect() as connection:
            owner = channel_admin.tenant_settings(connection, tenant)
            channels.get_channel(connection, name, tenant, services.database.default_timeout)
            row = reads.tenant_channel(connection, owner.id, name)
    finally:
        services.close()
    shown = _shown(row)
    minutes, source = settings.session_timeout_minutes, "CHATPORT_SESSION_TIMEOUT_MINUTES"
    if row.session_timeout_seconds:
        minutes, source = row.session_timeout_seconds / 60, "channel"
    elif owner.session_timeout_seconds:
        minutes, source = owner.session_timeout_seconds / 60, f"tenant {tenant!r}"
    shown["session_timeout_in_force"] = {"minutes": minutes, "from": source}
    if as_json:
        print(json.dumps(shown, default=str))
        return
    table = Table(title=f"channel {name} ({tenant})", show_header=False)
    for key, value in shown.items():
        if key == "session_timeout_in_force":
            value = f"{value['minutes']:g} min (from {value['from']})"
        table.add_row(key.replace("_", " "), "—" if value is None else str(value))
    console.print(table)


def _shown(row: Any) -> dict[str, Any]:
    seconds = row.session_timeout_seconds
    return {
        "name": row.name,
        "waha_url": row.waha_url,
        "waha_session": row.waha_session,
        "me_id": row.me_id,
        "status": row.status,
        "session_timeout_minutes": seconds / 60 if seconds else None,
        "webhook_signed": bool(row.webhook_signed),
        "has_agent": bool(row.agent_url),
        "agent_url": row.agent_url,
        "debounce_quiet_ms": row.debounce_quiet_ms,
        "debounce_max_wait_ms": row.debounce_max_wait_ms,
        "agent_groups": row.agent_groups,
        "handoff_minutes": row.handoff_minutes,
        "created_at": row.created_at.isoformat(),
    }


def _write(name: str, tenant: str, db: str | None, changes: dict[str, Any], *, new: bool) -> None:
    services = build(settings_with(db))
    try:
        database = services.database
        with database.unit_of_work() as uow:
            if new:
                ensure_tenant(uow.connection, tenant)
                try:
                    channels.get_channel(uow.connection, name, tenant, database.default_timeout)
                except NotFoundError:
                    target = uow.create_channel(name, tenant=tenant)
                else:
                    raise ChannelExists(f"channel {name!r} exists in tenant {tenant!r}")
            else:
                target = channels.get_channel(
                    uow.connection, name, tenant, database.default_timeout
                )
            channel_admin.update_channel(
                uow.connection, target.id, changes, secrets=database.secrets, trusted=True
            )
            uow.commit()
    finally:
        services.close()


def _command(*, new: bool):
    """The `create` (`new`) or `update` command: every setting is an option."""

    def command(
        name: Annotated[str, typer.Argument(help="The channel")],
        tenant: TenantOption = "default",
        waha_url: Annotated[str | None, typer.Option(help="WAHA's base URL")] = None,
        waha_session: Annotated[
            str | None, typer.Option(help="WAHA session [default: the channel's name]")
        ] = None,
        waha_api_key: Annotated[str | None, typer.Option(help="WAHA's X-Api-Key")] = None,
        session_timeout_minutes: Annotated[
            float | None,
            typer.Option(min=0.1, help="Session timeout [default: the tenant's, else global]"),
        ] = None,
        webhook_hmac_key: Annotated[str | None, typer.Option(help="Webhooks' HMAC key")] = None,
        agent_url: Annotated[str | None, typer.Option(help="The AI agent's URL")] = None,
        debounce_quiet_ms: Annotated[int | None, typer.Option(min=1)] = None,
        debounce_max_wait_ms: Annotated[int | None, typer.Option(min=1)] = None,
        agent_groups: Annotated[
            bool | None,
            typer.Option("--agent-groups/--no-agent-groups", help="Agent jobs in groups"),
        ] = None,
        handoff_minutes: Annotated[
            int | None, typer.Option(min=1, help="A human's reply pauses the bot this long")
        ] = None,
        clear: Annotated[
            list[str] | None,
            typer.Option(help="Put a setting back to its default, e.g. --clear agent-url"),
        ] = None,
        db: DbOption = None,
    ) -> None:
        changes = _settings(
            waha_url,
            waha_session,
            waha_api_key,
            session_timeout_minutes,
            webhook_hmac_key,
            agent_url,
            debounce_quiet_ms,
            debounce_max_wait_ms,
            agent_groups,
            handoff_minutes,
            clear,
        )
        _write(name, tenant, db, changes, new=new)
        console.print(f"{'created' if new else 'updated'} channel {name!r} of tenant {tenant!r}")

    return command


channels_app.command(
    "create", help="Create a channel (its tenant too when new) with the settings given."
)(_command(new=True))
channels_app.command(
    "update",
    help="Change the settings given; --clear SETTING puts one back to its default. One WAHA "
    "session (URL and session) belongs to one channel.",
)(_command(new=False))


@channels_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="The channel")],
    tenant: TenantOption = "default",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
    db: DbOption = None,
) -> None:
    """Delete the channel and everything of it (chats, messages, sessions, events, jobs...),
    for good; its running import is cancelled first."""
    from chatport.engines.cancel import delete_channel

    services = build(settings_with(db))
    try:
        with services.database.engine.connect() as connection:
            target = channels.get_channel(
                connection, name, tenant, services.database.default_timeout
            )
            counts = console_reads.channel_summaries(connection, target.tenant_id)
        chats = counts[target.id].chats if target.id in counts else 0
        if not yes:
            typer.confirm(
                f"Delete channel {name!r} of tenant {tenant!r} and its {chats} chats, with every "
                "message, session and job of it?",
                abort=True,
            )
        deleted = delete_channel(services, target.id)
    finally:
        services.close()
    rows = ", ".join(f"{count} {table}" for table, count in deleted.items() if count)
    console.print(f"deleted channel {name!r}: {rows}", soft_wrap=True)
