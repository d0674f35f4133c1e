"""Console sign-in: a tenant API key, checked like the API's, kept in an HttpOnly cookie.

Every console page needs it (`ConsoleTenant`); without a valid key the browser is sent to
`/login`. Forms that change something also refuse posts from other sites (the cookie is
`SameSite=Lax`, and the `Origin` header must be sent and name this server).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chatport.api.console.render import ConsoleError, render
from chatport.api.deps import KeysDep
from chatport.store.tenants import Tenant

COOKIE = "chatport_key"
_COOKIE_DAYS = 7

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """The request has no valid key: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def login_redirect(request: Request, error: LoginRequired) -> Response:
    return RedirectResponse(f"/login?next={quote(error.next_path, safe='/')}", status_code=303)


async def console_tenant(request: Request, keys: KeysDep) -> Tenant:
    """The tenant of the cookie's key; `LoginRequired` without a valid one."""
    key = request.cookies.get(COOKIE)
    tenant = await keys.tenant(key) if key else None
    if tenant is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    request.state.console_tenant = tenant
    return tenant


ConsoleTenant = Annotated[Tenant, Depends(console_tenant)]


def same_origin(request: Request) -> None:
    """403 for a form not posted from this site: its `Origin` must be this server's `Host`
    (or, behind a reverse proxy, the `X-Forwarded-Host` it was asked for). Browsers send
    `Origin` with every form post; one without it, or with `Origin: null` (a sandboxed frame,
    a `data:` page, some redirects), is refused too."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        raise ConsoleError(403, "This form was posted without its origin; it was refused.")
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        netloc = ""
    if netloc not in hosts - {""}:
        raise ConsoleError(403, "This form was posted from another site; it was refused.")


SameOrigin = Depends(same_origin)


def _local(path: str | None) -> str:
    """`path` when it is a path of this site, else `/` (no open redirects)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_local(next))


@router.post("/login", response_class=HTMLResponse, dependencies=[SameOrigin])
async def log_in(
    request: Request,
    keys: KeysDep,
    api_key: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    key = api_key.strip()
    tenant = await keys.tenant(key) if key else None
    if tenant is None:
        return render(
            request,
            "login.html",
            status_code=401,
            next=_local(next),
            error="That key is unknown or revoked.",
        )
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        max_age=_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", dependencies=[SameOrigin])
async def log_out() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
