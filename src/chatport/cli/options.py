"""Options shared by every command."""

from __future__ import annotations

from typing import Annotated

import typer

from chatport.settings import Settings

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL: sqlite:///FILE or postgresql://USER@HOST/DB "
        "[default: $CHATPORT_DATABASE_URL, else sqlite:///chatport.db]",
        show_default=False,
    ),
]


def settings_with(db: str | None) -> Settings:
    """Settings from the environment, with `--db` taking precedence."""
    settings = Settings()
    return settings.model_copy(update={"database_url": db}) if db else settings
