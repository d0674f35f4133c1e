"""Import Baileys history sync payloads (`messaging-history.set`) into a channel: their LID
pairs are stored first (contacts and chats first seen by a LID merge), then their messages go
through the write path in chunks of `CHUNK` (one transaction each; a re-import adds
nothing). The CLI (`chatport import baileys FILE`) and `POST /webhooks/baileys/{channel}`
call it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chatport.domain.model import Channel, Origin
from chatport.errors import BaileysFormatError
from chatport.ingest.history import HistoryReport, write_history
from chatport.sources.baileys.history import payloads, read_history
from chatport.sources.base import HistoryPart
from chatport.store.database import Database

CHUNK = 1_000


def import_text(database: Database, channel: Channel, text: str) -> HistoryReport:
    """Import a file's text: one payload, or JSON lines of several."""
    try:
        return import_payloads(database, channel, list(payloads(text)))
    except ValueError as error:
        raise BaileysFormatError(str(error)) from None


def import_payloads(
    database: Database, channel: Channel, items: Iterable[tuple[int, Any]]
) -> HistoryReport:
    """Import decoded payloads, each with its line (for errors)."""
    return write_history(database, channel, _parts(items), origin=Origin.IMPORT, chunk=CHUNK)


def _parts(items: Iterable[tuple[int, Any]]) -> Iterator[HistoryPart]:
    for line, payload in items:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("messages", []), list):
            raise BaileysFormatError(f"line {line}: not a messaging-history.set payload")
        yield read_history(payload)
