"""Running a coroutine on the fastest event loop the platform has."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # Windows: uvloop is not installed there
    uvloop = None

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop where it is installed: the fetch processes of an import,
    which spend their time in HTTP and the event loop, take about a tenth less CPU on it."""
    if uvloop is None:
        return asyncio.run(main)
    return uvloop.run(main)
