"""Import Baileys history sync payloads (`messaging-history.set`) into a channel: their LID
pairs are stored first (contacts and chats first seen by a LID merge), then their messages go
through the write path in chunks of `CHUNK` (one transaction each; a re-import adds
nothing). The CLI (`chatport import baileys FILE`) and `POST /webhooks/baileys/{channel}`
call it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatport.domain.batch import prepare_batch
from chatport.domain.model import BatchResult, Channel, Origin
from chatport.errors import ChatportError
from chatport.sources.baileys.history import payloads, read_history
from chatport.store.database import Database
from chatport.store.write_path.lids import remember_lids

CHUNK = 1_000


class BaileysFormatError(ChatportError):
    """Not Baileys history sync payloads (the message names the line)."""


@dataclass
class BaileysReport:
    """What an import of history sync payloads did."""

    payloads: int = 0
    messages: int = 0
    skipped: int = 0
    lid_pairs: int = 0
    result: BatchResult = field(default_factory=BatchResult)


def import_text(database: Database, channel: Channel, text: str) -> BaileysReport:
    """Import a file's text: one payload, or JSON lines of several."""
    try:
        return import_payloads(database, channel, list(payloads(text)))
    except ValueError as error:
        raise BaileysFormatError(str(error)) from None


def import_payloads(
    database: Database, channel: Channel, items: Iterable[tuple[int, Any]]
) -> BaileysReport:
    """Import decoded payloads, each with its line (for errors)."""
    report = BaileysReport()
    for line, payload in items:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("messages", []), list):
            raise BaileysFormatError(f"line {line}: not a messaging-history.set payload")
        history = read_history(payload)
        report.payloads += 1
        report.skipped += history.skipped
        report.messages += len(history.messages)
        if history.lids:
            with database.unit_of_work() as uow:
                report.lid_pairs += remember_lids(
                    uow.connection, database.ops, channel, history.lids
                )
                uow.commit()
        for start in range(0, len(history.messages), CHUNK):
            batch = prepare_batch(history.messages[start : start + CHUNK])
            report.result.add(database.write_batch(channel, batch, origin=Origin.IMPORT))
    return report
