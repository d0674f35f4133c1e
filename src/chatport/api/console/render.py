"""Pages from the console's Jinja templates (autoescaped), with the filters they use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from chatport.api.console import views

HERE = Path(__file__).parent
STATIC = HERE / "static"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    when=views.when,
    iso=lambda moment: moment.isoformat() if isinstance(moment, datetime) else "",
    duration=views.duration,
    size=views.size,
    number=lambda value: f"{value or 0:,}",
    person=views.person,
    web_link=views.web_link,
    shown_text=views.shown_text,
)
templates.env.tests["truncated"] = views.truncated
templates.env.globals["TEXT_SHOWN"] = views.TEXT_SHOWN


class ConsoleError(Exception):
    """A console request that cannot be served: an error page with `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Template `name` over `context`; `tenant` is the signed-in tenant when there is one."""
    context.setdefault("tenant", getattr(request.state, "console_tenant", None))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, error: ConsoleError) -> HTMLResponse:
    return render(request, "error.html", status_code=error.status, message=error.message)
