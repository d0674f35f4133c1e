"""`chatport import export|baileys`: history from files (registered in `imports`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chatport.bootstrap import Services, build
from chatport.cli.import_report import baileys_summary, export_summary
from chatport.cli.options import DbOption, settings_with
from chatport.domain.model import Channel
from chatport.domain.normalise import InvalidValue, normalise_jid
from chatport.errors import NotFoundError
from chatport.ingest.baileys import import_file
from chatport.ingest.export import import_export, local_zone
from chatport.phones import phone_digits, region_code
from chatport.runtime.heap import for_bulk_work
from chatport.store.tenants import find_tenant
from chatport.store.write_path.unit_of_work import UnitOfWork

ChannelOption = Annotated[
    str, typer.Option(help="chatport channel to import into (see --create-channel)")
]
TenantOption = Annotated[
    str, typer.Option(help="Tenant of the channel (tenants: `chatport keys create --tenant`)")
]
CreateChannelOption = Annotated[
    bool,
    typer.Option(
        "--create-channel", help="Create the channel when the tenant has none of that name"
    ),
]


def chat_option(value: str) -> str:
    """A `--chat` value as a canonical chat id (a bare phone number works too)."""
    try:
        return normalise_jid(value)
    except InvalidValue as invalid:
        raise typer.BadParameter(f"--chat: {invalid}") from None


def region_option(value: str) -> str:
    """A `--region` value as a region code (`br` -> `BR`)."""
    try:
        return region_code(value)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--region") from None


def export_chat_option(value: str, region: str | None) -> str:
    """An export's `--chat`: a chat id, or a phone number as people write it (read in
    `region` when it has no country code)."""
    digits = phone_digits(value, region) if "@" not in value else None
    return f"{digits}@c.us" if digits else chat_option(value)


def import_export_file(
    file: Annotated[Path, typer.Argument(help="The export: a .txt, or the .zip with media")],
    channel: ChannelOption = "default",
    tenant: TenantOption = "default",
    create_channel: CreateChannelOption = False,
    chat_name: Annotated[
        str | None, typer.Option(help="The chat's name [default: from the file name]")
    ] = None,
    chat: Annotated[
        str | None, typer.Option(help="Store it as this chat id (e.g. 5511999999999@c.us)")
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            help="Time zone of the export's times, e.g. America/Sao_Paulo [default: this "
            "machine's: TZ, else the system's setting]"
        ),
    ] = None,
    me: Annotated[str | None, typer.Option(help="Your name in the export (from_me)")] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="Region of phone numbers written without a country code, e.g. BR "
            "[default: $CHATPORT_DEFAULT_REGION]",
            show_default=False,
        ),
    ] = None,
    day_first: Annotated[
        bool | None,
        typer.Option(
            "--day-first/--month-first",
            help="Date order, when the dates cannot tell",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import a WhatsApp "Export chat" file: Android or iOS, any date layout, .txt or .zip
    (read as a stream: checked whole, then written in chunks)."""
    settings = settings_with(db)
    region = region_option(region) if region else settings.default_region
    chat = export_chat_option(chat, region) if chat is not None else None
    services = build(settings)
    for_bulk_work()
    try:
        target = import_channel(services, channel, tenant, create=create_channel)
        report = import_export(
            services.database,
            target,
            file,
            zone=local_zone(tz),
            chat_name=chat_name,
            chat_id=chat,
            me=me,
            is_day_first=day_first,
            region=region,
        )
    finally:
        services.close()
    export_summary(report, machine_zone=tz is None)


def import_baileys_file(
    file: Annotated[Path, typer.Argument(help="A messaging-history.set payload, or JSON lines")],
    channel: ChannelOption = "default",
    tenant: TenantOption = "default",
    create_channel: CreateChannelOption = False,
    db: DbOption = None,
) -> None:
    """Import Baileys history sync payloads (`messaging-history.set`) from a file."""
    if not file.is_file():
        raise typer.BadParameter(f"no such file: {file}")
    services = build(settings_with(db))
    for_bulk_work()
    try:
        target = import_channel(services, channel, tenant, create=create_channel)
        report = import_file(services.database, target, file)
    finally:
        services.close()
    baileys_summary(report)


def import_channel(services: Services, name: str, tenant: str, *, create: bool) -> Channel:
    """The channel `name` of `tenant`, created when missing if `create` (else NotFoundError
    suggesting --create-channel; an unknown tenant is never created here)."""
    with services.database.unit_of_work() as uow:
        found = existing_channel(uow, name, tenant, create=create)
        if found is not None:
            return found
        target = uow.create_channel(name, tenant=tenant, waha_session=name)
        uow.commit()
    return target


def existing_channel(uow: UnitOfWork, name: str, tenant: str, *, create: bool) -> Channel | None:
    """The channel `name` of `tenant`, or None when it is missing and may be created
    (`create`); NotFoundError for a missing one that may not, and for an unknown tenant."""
    try:
        return uow.channel(name, tenant)
    except NotFoundError:
        if find_tenant(uow.connection, tenant) is None:
            raise NotFoundError(
                f"no tenant {tenant!r}: check --tenant (`chatport keys create --tenant "
                f"{tenant}` creates one)"
            ) from None
        if not create:
            raise NotFoundError(
                f"no channel {name!r} in tenant {tenant!r}: check --channel, or add "
                "--create-channel to create it"
            ) from None
    return None
