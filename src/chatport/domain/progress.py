"""An import's progress, as every engine reports it (plain data: it also crosses Temporal)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImportProgress:
    """What an import has done so far (the CLI draws it, the API streams it, a Temporal
    workflow answers it to the `progress` query)."""

    chats_seen: int = 0
    chats_listed: bool = False
    chats_done: int = 0
    chats_failed: int = 0
    messages: int = 0
    created: int = 0
    fetched: int = 0
    """Messages read from WAHA, written or not yet."""
