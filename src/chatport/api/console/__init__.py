"""The web console of `chatport serve`, at `/`: server-rendered pages (Jinja templates, a
little JavaScript, no build step) over the same database and import runner as the API,
signed in with a tenant's API key."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from chatport.api.console import (
    auth,
    channel_pages,
    chat_actions,
    import_pages,
    live_pages,
    pages,
)
from chatport.api.console.render import STATIC, ConsoleError, error_page


def mount_console(app: FastAPI) -> None:
    """Add the console's pages, its static files (`/static`) and its error pages to `app`."""
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(channel_pages.router)
    app.include_router(chat_actions.router)
    app.include_router(live_pages.router)
    app.include_router(import_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(auth.LoginRequired, auth.login_redirect)
    app.add_exception_handler(ConsoleError, error_page)
