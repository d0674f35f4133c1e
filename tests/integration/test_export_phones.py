"""Export authors named by phone number (both back ends): read by phonenumbers in the export's
region, refused when a national number has no region to be read in, and one person with the
contact WhatsApp already has under the other spelling of a Brazilian mobile (9th digit)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from chatport.domain.model import ContactRef, IncomingMessage, Origin
from chatport.errors import ExportFormatError
from chatport.ingest.export import import_export
from chatport.store.database import Database
from chatport.store.tables import chats, contacts, messages, sessions

UTC_ZONE = ZoneInfo("UTC")


def export_file(tmp_path: Path, *authors: str) -> Path:
    path = tmp_path / "WhatsApp Chat with someone.txt"
    lines = [f"24/12/2023, 21:{at:02d} - {who}: hi {at}" for at, who in enumerate(authors)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(database: Database, path: Path, **options):
    options.setdefault("zone", UTC_ZONE)
    return import_export(database, database.channel(), path, **options)


def stored_ids(database: Database) -> tuple[set[str], set[str]]:
    with database.engine.connect() as connection:
        people = set(connection.execute(select(contacts.c.wa_id)).scalars())
        chat_ids = set(connection.execute(select(chats.c.chat_id)).scalars())
    return people, chat_ids


def whatsapp_knows(database: Database, jid: str) -> None:
    """A message from `jid`, as WAHA would store it (WhatsApp's own id for the person)."""
    incoming = IncomingMessage(
        external_id=f"waha-{jid}",
        chat_id=jid,
        sent_at=datetime(2023, 12, 20, 10, 0, tzinfo=UTC),
        author=ContactRef(wa_id=jid, name="Ana"),
        text="from WhatsApp",
    )
    database.write_batch(database.channel(), [incoming], origin=Origin.IMPORT)


def test_a_national_number_is_read_in_the_region(database, tmp_path: Path) -> None:
    path = export_file(tmp_path, "(011) 98765-4321", "Me", "(011) 98765-4321")
    report = run(database, path, me="Me", region="BR")
    assert report.chat_id == "5511987654321@c.us" and report.result.created == 3
    assert stored_ids(database) == ({"5511987654321@c.us"}, {"5511987654321@c.us"})


def test_a_national_number_without_a_region_is_refused(database, tmp_path: Path) -> None:
    path = export_file(tmp_path, "Ana", "Me", "(011) 98765-4321")
    with pytest.raises(ExportFormatError, match=r"line 3: .*'\(011\) 98765-4321'.*--region"):
        run(database, path, me="Me")
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(messages)).scalar() == 0
    mine = export_file(tmp_path, "Ana", "(011) 98765-4321")
    assert run(database, mine, me="(011) 98765-4321").result.created == 2  # me: no contact
    international = export_file(tmp_path, "0055 11 98765-4321", "Me")
    assert run(database, international, me="Me").chat_id == "5511987654321@c.us"  # no region


@pytest.mark.parametrize(
    ("whatsapp", "written"),
    [
        ("551187654321@c.us", "+55 11 98765-4321"),  # an older id, written with the 9
        ("5511987654321@c.us", "+55 11 8765-4321"),  # the other way round
    ],
)
def test_a_brazilian_mobile_with_or_without_the_9_is_one_person(
    database, tmp_path: Path, whatsapp: str, written: str
) -> None:
    whatsapp_knows(database, whatsapp)
    path = export_file(tmp_path, written, "Me", written)
    report = run(database, path, me="Me")
    assert report.chat_id == whatsapp and report.result.created == 3
    assert report.result.contacts_created == 0
    assert stored_ids(database) == ({whatsapp}, {whatsapp})
    with database.engine.connect() as connection:
        in_chat = connection.execute(
            select(func.count()).select_from(messages).where(messages.c.chat_id == whatsapp)
        ).scalar()
        counted = connection.execute(select(func.sum(sessions.c.message_count))).scalar()
    assert in_chat == counted == 4
    again = run(database, path, me="Me")
    assert (again.result.created, again.result.duplicates) == (0, 3)


def test_both_spellings_stored_keep_their_own(database, tmp_path: Path) -> None:
    whatsapp_knows(database, "551187654321@c.us")
    whatsapp_knows(database, "5511987654321@c.us")
    report = run(database, export_file(tmp_path, "+55 11 98765-4321", "Me"), me="Me")
    assert report.chat_id == "5511987654321@c.us"
    assert stored_ids(database)[0] == {"551187654321@c.us", "5511987654321@c.us"}


def test_a_group_author_meets_the_stored_spelling(database, tmp_path: Path) -> None:
    whatsapp_knows(database, "551187654321@c.us")
    path = export_file(tmp_path, "+55 11 98765-4321", "Bo", "Me")
    report = run(database, path, me="Me")
    assert report.chat_id.endswith("@g.us")
    people, _ = stored_ids(database)
    assert "551187654321@c.us" in people and "5511987654321@c.us" not in people


def test_whatsapps_id_arriving_after_an_export_takes_its_person_over(
    database, tmp_path: Path
) -> None:
    """Identity does not depend on order: the export first, WhatsApp's id without the 9 later."""
    path = export_file(tmp_path, "+55 11 98765-4321", "Me", "+55 11 98765-4321")
    assert run(database, path, me="Me").chat_id == "5511987654321@c.us"
    whatsapp_knows(database, "551187654321@c.us")
    assert stored_ids(database) == ({"551187654321@c.us"}, {"551187654321@c.us"})
    with database.engine.connect() as connection:
        names = connection.execute(select(contacts.c.name, contacts.c.phone)).all()
        counted = connection.execute(select(func.sum(sessions.c.message_count))).scalar()
        in_chat = connection.execute(select(func.count()).select_from(messages)).scalar()
    assert [tuple(row) for row in names] == [("Ana", "551187654321")]
    assert counted == in_chat == 4
    again = run(database, path, me="Me")
    assert again.chat_id == "551187654321@c.us"
    assert (again.result.created, again.result.duplicates) == (0, 3)
