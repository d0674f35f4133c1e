"""Every third-party export sample, and a file with the dirt real exports carry, imports through
the write path (both back ends) with exact counts; a re-import adds nothing."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from chatport.ingest.export import import_export
from chatport.store.tables import messages
from tests.unit.test_export_parser import CHATISTICS, MINER, PUSTUR

UTC_ZONE = ZoneInfo("UTC")

# file, date order given, messages, lines that looked like headers and were kept as text
SAMPLES = [
    (MINER / "test_ddmmyy_24hrs.txt", None, 9, 0),
    (MINER / "test_mmddyy_24hrs.txt", None, 9, 0),
    (MINER / "test_mmddyyyy_12hrs.txt", None, 9, 0),
    (MINER / "test_yyyymmdd_24hrs.txt", None, 9, 0),
    (MINER / "test_[mmddyy]_24hrs.txt", None, 9, 0),
    (MINER / "testlog-b8f4887.txt", None, 9, 14),  # a catalogue of formats: one is the file's
    (CHATISTICS / "_chat.txt", None, 21, 1),
    (CHATISTICS / "_chat 2.txt", None, 4, 1),
    (CHATISTICS / "_chat 3.txt", False, 11, 0),
    (CHATISTICS / "_chat 4.txt", None, 3, 0),
    (PUSTUR / "example-2019_chat.txt", None, 100, 0),
    (PUSTUR / "example-2024_chat.txt", None, 52, 0),
    (PUSTUR / "example-2024-trimmed.zip", None, 52, 0),
]

DIRTY = (
    "\ufeff[\ufeff29.01.18, 12:24:03 PM] Ana: a BOM inside the bracket\n"
    "[29.01.18,\u00a012:25:00\u00a0PM\u200e] Bo: NBSP and LRM\n"
    "[\u200f29.01.18, 12:26:00 PM] Ana: RLM\n"
    "[29.01.18, 23:59:00 PM] Bo: a 24-hour clock with a marker\n"
    "[30.01.18, 13:05:00 AM] Ana: another\n"
    "[30.01.18, 01:06:00 PM] Bo: a plain PM\n"
    "[31.02.18, 10:00:00 AM] Ana: the 31st of February, kept as text\n"
    "[30.01.18, 25:00:00 AM] Ana: hour 25, kept as text\n"
    "30/01/18, 14:00 - Ana: another format, kept as text\n"
    "[30.01.18, 02:07:00 PM] Ana: the last one\n"
)


def test_every_sample_imports_with_exact_counts(database) -> None:
    for path, order, count, kept in SAMPLES:
        first = import_export(database, database.channel(), path, zone=UTC_ZONE, is_day_first=order)
        assert (first.messages, first.result.created, first.kept_as_text) == (count, count, kept)
        again = import_export(database, database.channel(), path, zone=UTC_ZONE, is_day_first=order)
        assert (again.result.created, again.result.duplicates) == (0, count), path.name


def test_a_dirty_export_imports_whole(database, tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Ana.txt"
    path.write_text(DIRTY, encoding="utf-8")
    report = import_export(database, database.channel(), path, zone=UTC_ZONE, me="Bo")
    assert (report.messages, report.result.created, report.kept_as_text) == (7, 7, 3)
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.sent_at, messages.c.text).order_by(messages.c.sent_at)
        ).all()
    assert [f"{row.sent_at:%d %H:%M}" for row in rows] == [
        "29 12:24",
        "29 12:25",
        "29 12:26",
        "29 23:59",
        "30 13:05",
        "30 13:06",
        "30 14:07",
    ]
    assert rows[5].text.endswith("another format, kept as text")
    assert rows[0].text == "a BOM inside the bracket"
    again = import_export(database, database.channel(), path, zone=UTC_ZONE, me="Bo")
    assert (again.result.created, again.result.duplicates) == (0, 7)
