"""Export chat files through the write path (both back ends): exact counts, idempotent
re-imports and overlapping exports, time zones, authors as contacts, zips with missing
attachments, writes in chunks, and unreadable files (a corrupt zip among them) that write
nothing."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from chatport.errors import ExportFormatError
from chatport.ingest import export
from chatport.ingest.export import import_export
from chatport.store.database import Database
from chatport.store.tables import contacts, messages, sessions
from tests.unit.test_export_parser import PUSTUR

UTC_ZONE = ZoneInfo("UTC")


def count(database: Database, table=messages) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def run(database: Database, path: Path, **options):
    options.setdefault("zone", UTC_ZONE)
    return import_export(database, database.channel(), path, **options)


def test_a_zip_export_imports_once_and_reports_missing_attachments(database) -> None:
    path = PUSTUR / "example-2024-trimmed.zip"
    first = run(database, path)
    assert first.result.created == first.messages == 52
    assert first.attachments_found == 2
    assert sorted(first.attachments_missing) == [
        "00000002-VIDEO-2019-06-20-16-01-42.mp4",
        "00000003-AUDIO-2019-06-20-16-03-55.mp3",
    ]
    assert first.chat_id.startswith("export-") and first.chat_id.endswith("@g.us")
    with database.engine.connect() as connection:
        photo = connection.execute(
            select(messages.c.content_type, messages.c.media_mime, messages.c.media_size).where(
                messages.c.media_filename == "00000001-PHOTO-2019-06-20-16-00-15.jpg"
            )
        ).one()
        origins = set(connection.execute(select(messages.c.origin)).scalars())
    assert photo.content_type == "image" and photo.media_mime == "image/jpeg"
    assert photo.media_size > 1000 and origins == {"export"}
    again = run(database, path)
    assert (again.result.created, again.result.duplicates) == (0, 52)
    assert count(database) == 52


def test_an_overlapping_later_export_adds_only_what_is_new(database, tmp_path: Path) -> None:
    lines = (PUSTUR / "example-2019_chat.txt").read_bytes().decode("utf-8-sig").split("\r\n")
    earlier = tmp_path / "WhatsApp Chat with Friends.txt"
    earlier.write_text("\r\n".join(lines[: len(lines) * 2 // 3]), encoding="utf-8")
    later = tmp_path / "WhatsApp Chat - Friends.txt"
    later.write_text("\r\n".join(lines), encoding="utf-8")
    first = run(database, earlier)
    second = run(database, later)
    assert first.chat_id == second.chat_id and first.chat_name == "Friends"
    assert first.result.created + second.result.created == count(database) == 100
    assert second.result.duplicates == first.result.created


def test_authors_become_contacts_and_times_move_to_utc(database, tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(
        "24/12/2023, 21:30 - +55 11 98765-4321: olá\n"
        "24/12/2023, 21:31 - Me Myself: hi!\n"
        "24/12/2023, 21:32 - +55 11 98765-4321: tudo bem?\n",
        encoding="utf-8",
    )
    report = run(database, path, zone=ZoneInfo("America/Sao_Paulo"), me="Me Myself")
    assert report.chat_id == "5511987654321@c.us"
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.sent_at, messages.c.from_me).order_by(messages.c.sent_at)
        ).all()
        wa_ids = set(connection.execute(select(contacts.c.wa_id)).scalars())
    assert rows[0].sent_at == datetime(2023, 12, 25, 0, 30, tzinfo=UTC)
    assert [row.from_me for row in rows] == [False, True, False]
    assert wa_ids == {"5511987654321@c.us"}


def test_name_only_authors_are_contacts_of_their_chat(database, tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Ana.txt"
    path.write_text("[24.12.23, 21:30:00] Ana: hallo\n[24.12.23, 21:31:00] Bo: hi\n", "utf-8")
    report = run(database, path)
    with database.engine.connect() as connection:
        named = dict(connection.execute(select(contacts.c.name, contacts.c.wa_id)).all())
    assert set(named) == {"Ana", "Bo"}
    assert all(wa_id.endswith("@export") for wa_id in named.values())
    assert report.chat_id.endswith("@g.us")  # two other authors: a group
    one_to_one = run(database, path, me="Bo", chat_name="Ana")
    assert one_to_one.chat_id == named["Ana"]  # a 1:1 chat is its other author
    assert one_to_one.result.created == 2


def test_an_unreadable_file_writes_nothing_and_names_the_line(database, tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("12/24/23, 18:01 - Ana: hi\n12/24/23, 18:02 - Ana: ok\n", encoding="utf-8")
    path.write_bytes(path.read_bytes() + b"12/24/23, 18:03 - Ana: \xff\xfe\n")
    with pytest.raises(ExportFormatError, match="line 3: not UTF-8"):
        run(database, path, is_day_first=False)
    bad_date = tmp_path / "bad.txt"
    bad_date.write_text("02/30/23, 18:01 - Ana: no\n12/24/23, 18:02 - Ana: hi\n", "utf-8")
    with pytest.raises(ExportFormatError, match="line 1: not a date"):  # no message before it
        run(database, bad_date, is_day_first=False)
    assert count(database) == 0


def test_an_export_attached_to_a_known_chat_keeps_one_contact(database, tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Ana.txt"
    path.write_text("[24.12.23, 21:30:00] Ana: hallo\n[24.12.23, 21:31:00] Me: hi\n", "utf-8")
    report = run(database, path, me="Me", chat_id="5511900000009@c.us")
    assert report.chat_id == "5511900000009@c.us" and report.result.created == 2
    with database.engine.connect() as connection:
        people = connection.execute(select(contacts.c.wa_id, contacts.c.name)).all()
    assert [tuple(row) for row in people] == [("5511900000009@c.us", "Ana")]


def test_chunked_writes_store_what_one_transaction_stored(database, tmp_path, monkeypatch) -> None:
    path = PUSTUR / "example-2019_chat.txt"
    whole = run(database, path, chat_name="Whole")
    monkeypatch.setattr(export, "CHUNK", 7)
    chunked = run(database, path, chat_name="Chunked")
    assert whole.result.created == chunked.result.created == chunked.messages == 100
    assert whole.result.sessions_created == chunked.result.sessions_created
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(sessions.c.chat_id, sessions.c.message_count).order_by(sessions.c.started_at)
        ).all()
    shapes = [[n for chat, n in rows if chat == report.chat_id] for report in (whole, chunked)]
    assert shapes[0] == shapes[1] and sum(shapes[0]) == 100
    again = run(database, path, chat_name="Chunked")
    assert (again.result.created, again.result.duplicates) == (0, 100)


def test_a_bad_line_at_the_end_writes_no_chunk(database, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(export, "CHUNK", 2)
    path = tmp_path / "chat.txt"
    good = "".join(f"12/24/23, 18:{minute:02d} - Ana: hi {minute}\n" for minute in range(20))
    path.write_bytes(good.encode() + b"12/24/23, 18:59 - Ana: \xff\n")
    with pytest.raises(ExportFormatError, match="line 21: not UTF-8"):
        run(database, path, is_day_first=False)
    path.write_text(good + "12/24/23, 18:59 - Ana: " + "x" * (1 << 20), encoding="utf-8")
    with pytest.raises(ExportFormatError, match="line 21: a message of more than 1,048,576"):
        run(database, path, is_day_first=False)
    assert count(database) == 0


def test_a_corrupt_zip_is_refused_and_writes_nothing(database, tmp_path: Path) -> None:
    text = "12/24/23, 18:01 - Ana: hi\n12/24/23, 18:02 - Bo: hello\n"
    path = tmp_path / "WhatsApp Chat with Ana.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("WhatsApp Chat with Ana.txt", text)
    data = bytearray(path.read_bytes())
    at = data.index(b"hello")
    data[at] ^= 0x20  # "Hello": still a chat, but not the bytes the CRC was made of
    path.write_bytes(bytes(data))
    with pytest.raises(ExportFormatError, match="Ana.txt: corrupt zip: Bad CRC-32"):
        run(database, path, is_day_first=False)
    path.write_bytes(bytes(data[: len(data) // 2]))  # cut short: no directory at its end
    with pytest.raises(ExportFormatError, match="corrupt zip"):
        run(database, path, is_day_first=False)
    assert count(database) == 0
