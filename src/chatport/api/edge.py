"""The first thing every request meets: URLs no route could take are refused, and every
answer carries the browser security headers.

- A NUL character in the path or the query string (`%00`) is answered 400 before any route
  runs: no store takes it (PostgreSQL text refuses it), so no route has to think of it.
- Every response gets `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
  `Referrer-Policy: same-origin`; all but the API's documentation pages (which load Swagger
  UI from a CDN) get `CONTENT_SECURITY_POLICY`, which the console's pages meet: their script
  and style sheet are files of `/static`, with no inline script, style or event handler.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())


class EdgeGuard:
    """ASGI middleware: the module docstring. `docs_paths` are the paths (and prefixes of
    paths) served without the content security policy."""

    def __init__(self, app: ASGIApp, docs_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        query: bytes = scope.get("query_string", b"")
        documentation = bool(self.docs_paths) and path.startswith(self.docs_paths)
        added = SECURITY_HEADERS if documentation else (*SECURITY_HEADERS, _CSP)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in added if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        if "\x00" in path or b"%00" in query or b"\x00" in query:
            where = "path" if "\x00" in path else "query string"
            response = JSONResponse({"detail": f"a NUL character in the URL's {where}"}, 400)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
