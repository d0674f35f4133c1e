"""What a command prints: Rich tables and notes for people, or, with `--json`, one JSON
document on stdout (the notes and the progress bar then go to stderr, or nowhere)."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console

console = Console()
"""The console of the commands' notes and tables (stderr under `--json`)."""

_json = False


def use_json(on: bool = True) -> None:
    """Print results as JSON on stdout from now on (`--json`); notes go to stderr."""
    global _json
    _json = on
    console.file = sys.stderr if on else None  # type: ignore[assignment]  # None: stdout


def json_wanted() -> bool:
    """Whether `--json` was given."""
    return _json


def emit(document: Any) -> None:
    """Print `document` as one line of JSON on stdout (dates as ISO 8601, UUIDs as text)."""
    sys.stdout.buffer.write(orjson.dumps(document, default=str) + b"\n")
    sys.stdout.flush()
