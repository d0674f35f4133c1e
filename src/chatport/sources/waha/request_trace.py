"""WAHA requests timed for the metrics: an aiohttp trace that reports each request's
endpoint (its path with the session and ids left out), outcome and duration."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

_ID_AFTER = {"chats": {"overview"}, "lids": {"count", "pn"}, "pn": set(), "messages": set()}
"""Segments that follow these name an object (`{id}`), except the words listed."""


def endpoint(path: str) -> str:
    """`/api/s1/chats/123%40c.us/messages` -> `{session}/chats/{id}/messages`."""
    parts = [part for part in path.split("/") if part][1:]  # without `api`
    if parts[:1] == ["sessions"]:
        return "sessions/{session}" if len(parts) > 1 else "sessions"
    if not parts:
        return "/"
    shown = ["{session}"]
    for previous, part in zip(parts, parts[1:], strict=False):
        words = _ID_AFTER.get(previous)
        shown.append("{id}" if words is not None and part not in words else part)
    return "/".join(shown)


def request_trace(record: Callable[[str, str, float], None]) -> aiohttp.TraceConfig:
    """A trace config whose session calls `record(endpoint, outcome, seconds)` after each
    request: outcome `ok` below 400, else the HTTP status, or the exception's name."""
    trace = aiohttp.TraceConfig()

    async def started(session: Any, context: SimpleNamespace, params: Any) -> None:
        context.started = time.perf_counter()

    async def ended(session: Any, context: SimpleNamespace, params: Any) -> None:
        status = params.response.status
        outcome = "ok" if status < 400 else str(status)
        record(endpoint(params.url.path), outcome, time.perf_counter() - context.started)

    async def failed(session: Any, context: SimpleNamespace, params: Any) -> None:
        outcome = type(params.exception).__name__
        record(endpoint(params.url.path), outcome, time.perf_counter() - context.started)

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    return trace
