"""What a history source yields, so that a new source is a copy of an existing one.

A file-like source (an export, Baileys payloads) is read into `HistoryPart`s: the messages
mapped to IncomingMessage, the `@lid` -> phone pairs it revealed and what it could not read.
`ingest.history.write_history` stores them: pairs first (so contacts and chats first seen by a
LID merge), then the messages through the write path. WAHA, paged and fetched by processes
of their own, is read by `ingest.waha` instead; its pages map to the same IncomingMessage
(`sources.waha.messages`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from chatport.domain.model import IncomingMessage


@dataclass
class HistoryPart:
    """A part of a source's history, mapped: messages to write, the LID pairs it revealed,
    how many items were skipped (not messages, or unreadable)."""

    messages: list[IncomingMessage] = field(default_factory=list)
    lids: dict[str, str] = field(default_factory=dict)
    skipped: int = 0


class HistorySource(Protocol):
    """A source of history: its parts in order (a part is read whole before it is written;
    an error raised while reading names where, as a ChatportError)."""

    def parts(self) -> Iterator[HistoryPart]: ...
