"""Options shared by every command, and how a command reports an error."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

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


def print_error(message: object) -> None:
    """`error: MESSAGE` on stderr, on one line however long: the message is plain text (Rich
    markup would swallow the `[postgres]` of `chatport[postgres]`) and is not wrapped."""
    line = Text.assemble(("error:", "bold red"), " ", str(message))
    Console(stderr=True, soft_wrap=True).print(line)
