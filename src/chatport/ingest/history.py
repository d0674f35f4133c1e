"""Store a history source's parts (`sources.base.HistorySource`): each part's LID pairs first
(contacts and chats first seen by a LID merge), then its messages through the write path, in
chunks of `chunk` messages (one transaction each; None: the part in one transaction). A
re-import adds nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chatport.domain.batch import prepare_batch
from chatport.domain.model import BatchResult, Channel, Origin
from chatport.sources.base import HistoryPart
from chatport.store.database import Database
from chatport.store.write_path.lids import remember_lids


@dataclass
class HistoryReport:
    """What storing a source's history did."""

    parts: int = 0
    messages: int = 0
    skipped: int = 0
    lid_pairs: int = 0
    result: BatchResult = field(default_factory=BatchResult)


def write_history(
    database: Database,
    channel: Channel,
    parts: Iterable[HistoryPart],
    *,
    origin: Origin,
    chunk: int | None,
) -> HistoryReport:
    """Store `parts` in `channel`, in order (see the module)."""
    report = HistoryReport()
    for part in parts:
        report.parts += 1
        report.skipped += part.skipped
        report.messages += len(part.messages)
        if part.lids:
            with database.unit_of_work() as uow:
                report.lid_pairs += remember_lids(uow.connection, database.ops, channel, part.lids)
                uow.commit()
        size = chunk or max(1, len(part.messages))
        for start in range(0, len(part.messages), size):
            batch = prepare_batch(part.messages[start : start + size])
            report.result.add(database.write_batch(channel, batch, origin=origin))
    return report
