"""How the command line reports the errors it expects: the one place that turns an exception
into one line on stderr and exit status 2 (`ChatportGroup`), tracebacks left for `--debug`.

Expected: every ChatportError (`errors.py`: bad URLs and options, a database that cannot be
opened or is not migrated, WAHA unreachable or refusing, an unknown channel or job, …) and
settings that do not validate (each `CHATPORT_*` variable named). Anything else is a bug: it
ends with its traceback and exit status 1, as Python does.
"""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from chatport.cli.options import print_error
from chatport.errors import ChatportError
from chatport.settings import Settings, settings_problems

DEBUG_HELP = "Show the traceback of an error instead of one line"


def one_line(error: BaseException) -> str | None:
    """What to tell the user of `error` when chatport expects it, else None."""
    if isinstance(error, ChatportError):
        return " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, ValidationError) and error.title == Settings.__name__:
        return settings_problems(error)
    return None


class ChatportGroup(TyperGroup):
    """The `chatport` command group: an expected error raised by any command is printed as
    `error: …` and exits 2, unless the group's `--debug` is given (then it is raised)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            message = one_line(error)
            if message is None or ctx.params.get("debug"):
                raise
            print_error(message)
            raise typer.Exit(2) from None
