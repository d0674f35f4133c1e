"""`chatport secrets`: the key that encrypts the channel secrets stored (CHATPORT_SECRET_KEY)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from chatport.cli.options import DbOption, settings_with

secrets_app = typer.Typer(
    help="Encryption of the channel secrets stored (WAHA API keys, webhook HMAC keys).",
    no_args_is_help=True,
)


@secrets_app.command("generate-key")
def generate_key() -> None:
    """Print a new Fernet key for CHATPORT_SECRET_KEY (put it first in the list to rotate)."""
    from chatport.store.secret_box import generate_key as new_key

    typer.echo(new_key())


@secrets_app.command("rotate")
def rotate(
    db: DbOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the counts as one JSON object")
    ] = False,
) -> None:
    """Re-encrypt every stored channel secret with the first key of CHATPORT_SECRET_KEY.

    Reads them with any key of the list, encrypts those stored in clear; one transaction.
    """
    import orjson

    from chatport.bootstrap import build
    from chatport.errors import SecretKeyError
    from chatport.store.channels import reseal_secrets

    services = build(settings_with(db))
    try:
        secrets = services.database.secrets
        if not secrets.encrypts:
            raise SecretKeyError(
                "CHATPORT_SECRET_KEY is not set: there is no key to encrypt with "
                "(`chatport secrets generate-key` makes one)"
            )
        with services.database.unit_of_work() as uow:
            rewritten, stored = reseal_secrets(uow.connection, secrets)
            uow.commit()
    finally:
        services.close()
    if json_output:
        typer.echo(orjson.dumps({"rewritten": rewritten, "stored": stored}).decode())
        return
    Console().print(
        f"re-encrypted {rewritten} of {stored} stored secret{'s' if stored != 1 else ''} "
        "with the first key",
        highlight=False,
    )
