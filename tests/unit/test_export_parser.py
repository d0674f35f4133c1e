"""The export parser against real third-party samples (tests/fixtures/whatsapp-exports, MIT;
the expected figures come from each source project's own tests, see its README)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatport.errors import ExportFormatError
from chatport.sources.export.format import header_of
from chatport.sources.export.parser import parse_export

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp-exports"
MINER = FIXTURES / "joweich-chat-miner"
CHATISTICS = FIXTURES / "masterscrat-chatistics"
PUSTUR = FIXTURES / "pustur-whatsapp-chat-parser-website"


def parse(path: Path, **options):
    return parse_export(path.read_bytes().decode("utf-8-sig"), **options)


def authored(messages):
    return [m for m in messages if m.content_type != "system"]


@pytest.mark.parametrize(
    "name",
    [
        "test_ddmmyy_24hrs.txt",
        "test_mmddyy_24hrs.txt",
        "test_mmddyyyy_12hrs.txt",
        "test_yyyymmdd_24hrs.txt",
        "test_[mmddyy]_24hrs.txt",
    ],
)
def test_chat_miner_layouts_give_its_target(name: str) -> None:
    target = json.loads((MINER / "target.json").read_text())
    messages = parse(MINER / name)
    ours = {(m.local_time.isoformat(), m.author) for m in authored(messages)}
    assert ours == {(row["timestamp"], row["author"]) for row in target}
    assert len({m.author for m in authored(messages)}) == 5
    # chat-miner drops two group notices and `John Doe:.`; here they are system lines
    assert len(messages) == 9


def test_every_line_of_chat_miners_catalogue_reads_as_its_target() -> None:
    lines = (MINER / "testlog-b8f4887.txt").read_text(encoding="utf-8").split("\n")
    ours: Counter = Counter()
    for number, line in enumerate(lines, 1):
        if header_of(line, number) is not None:  # a catalogue of formats: one file per line
            [message] = parse_export(line, is_day_first=False)
            stamp = int(message.local_time.replace(tzinfo=UTC).timestamp() * 1000)
            ours[(stamp, message.author or "System")] += 1
    rows = [json.loads(row) for row in (MINER / "testlog-b8f4887.target.jsonl").open()]
    assert ours == Counter((row["datetime"], row["author"]) for row in rows)
    assert sum(ours.values()) == 23


def test_chatistics_ios_sample_keeps_foreign_headers_as_text() -> None:
    messages = parse(CHATISTICS / "_chat.txt")
    assert len(authored(messages)) == 20
    assert {m.author for m in authored(messages)} == {"Alice Placeholder", "John Doe"}
    assert [m.text for m in messages if m.content_type == "system"] == ["This is an info entry"]
    bodies = "\n".join(m.text or "" for m in messages)
    assert "\n[1.2.2019, 00:00:00] John Doe:" in bodies
    assert "What is that?\n2/11/19, 14:48 Alice Placeholder:" in bodies
    assert any("\u200d" in (m.text or "") for m in messages)  # ZWJ emoji sequences kept


def test_chatistics_single_digit_days_and_a_fake_header() -> None:
    messages = parse(CHATISTICS / "_chat 2.txt")
    assert [m.local_time for m in messages] == [
        datetime(2019, 9, 17, 16, 37, 47),
        datetime(2019, 9, 17, 16, 38, 6),
        datetime(2019, 9, 17, 16, 38, 59),
        datetime(2019, 9, 17, 16, 39, 52),
    ]
    assert "\n[1.9.19, 00:00:00] Peter Doe: this is the second line" in messages[0].text


def test_ambiguous_dates_ask_for_the_order_then_follow_it() -> None:
    with pytest.raises(ExportFormatError, match="--day-first or --month-first"):
        parse(CHATISTICS / "_chat 3.txt")
    messages = authored(parse(CHATISTICS / "_chat 3.txt", is_day_first=False))
    assert [m.local_time.strftime("%m-%d %H:%M") for m in messages] == [
        "02-11 14:18",
        "02-11 14:21",
        "02-11 14:21",
        "02-11 14:21",
        "02-11 14:22",
        "10-11 14:25",
        "02-11 14:33",
        "02-11 14:48",
        "02-11 14:51",
    ]
    by_author = {m.author: m.text for m in messages}
    assert by_author["The final test"] == "Hope so!"
    assert messages[3].text == "Does it work with colons?: Hallelujah!"
    assert messages[7].author == "John Doe" and messages[7].text.endswith("!")
    assert messages[8].text.endswith("2/11/19: Arrival\n12/12/19: Departure")


def test_en_dash_and_lower_case_pm() -> None:
    messages = parse(CHATISTICS / "_chat 4.txt")
    assert [m.local_time for m in messages] == [
        datetime(2019, 9, 17, 8, 30, 52),
        datetime(2019, 9, 17, 16, 30, 10),
        datetime(2019, 9, 18, 16, 50, 32),
    ]
    assert {(m.author, m.text) for m in messages} == {("John Doe", "US datetime format")}


def test_pustur_samples_counts_attachments_and_a_poll() -> None:
    old = parse(PUSTUR / "example-2019_chat.txt")
    assert (len(authored(old)), len(old) - len(authored(old))) == (97, 3)
    assert old[0].content_type == "system" and old[0].text.startswith("Messages to this group")
    new = parse(PUSTUR / "example-2024_chat.txt")
    assert (len(authored(new)), len(new) - len(authored(new))) == (48, 4)
    assert {m.author for m in authored(new)} == {"Loris", "John", "Emily"}
    media = {m.filename: m.content_type for m in new if m.filename}
    assert media["00000001-PHOTO-2019-06-20-16-00-15.jpg"] == "image"
    assert media["00000002-VIDEO-2019-06-20-16-01-42.mp4"] == "video"
    assert media["00000003-AUDIO-2019-06-20-16-03-55.mp3"] == "audio"
    assert [m.content_type for m in new].count("poll") == 1


def test_android_attachments_deleted_and_edited_markers() -> None:
    text = "\n".join(
        [
            "12/24/23, 18:01 - Ana: IMG-20231224-WA0001.jpg (file attached)",
            "a caption",
            "12/24/23, 18:02 - Ana: <Media omitted>",
            "12/24/23, 18:03 - Ana: This message was deleted",
            "12/24/23, 18:04 - Ana: fixed text <This message was edited>",
            "12/24/23, 18:05 - Ana: PTT-20231224-WA0002.opus (Datei angehängt)",
        ]
    )
    messages = parse_export(text, is_day_first=False)
    assert [m.content_type for m in messages] == ["image", "media", "revoked", "text", "voice"]
    assert messages[0].filename == "IMG-20231224-WA0001.jpg" and messages[0].text == "a caption"
    assert messages[0].mime == "image/jpeg"
    assert messages[2].text is None
    assert messages[3].text == "fixed text" and messages[3].edited


def test_unreadable_input_names_the_line() -> None:
    with pytest.raises(ExportFormatError, match="line 1: no WhatsApp message header"):
        parse_export("just some text\nand more")
    with pytest.raises(ExportFormatError, match="line 2: text before the first message"):
        parse_export("\nnot a header\n12/24/23, 18:01 - Ana: hi", is_day_first=False)
    with pytest.raises(ExportFormatError, match="line 1: not a date"):
        parse_export("02/30/23, 18:01 - Ana: hi", is_day_first=False)
