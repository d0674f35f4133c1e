"""Exports read as streams: lines as the parser takes them, binary and non-UTF-8 files named by
the line, messages over the limit named by the line they start on (found without reading
further), files that are no export told early."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

import pytest

from chatport.errors import ExportFormatError
from chatport.ingest.export import text_lines
from chatport.sources.export.parser import messages_of, parse_export
from chatport.sources.export.survey import LOOKAHEAD_LINES, MAX_MESSAGE_CHARS, Survey
from tests.unit.test_export_parser import CHATISTICS, PUSTUR


def lines(data: bytes) -> list[str]:
    return list(text_lines(io.BytesIO(data), "chat.txt"))


def test_stream_lines_are_the_split_lines_of_the_decoded_text() -> None:
    for data in (
        (PUSTUR / "example-2019_chat.txt").read_bytes(),  # BOM and CRLF
        (CHATISTICS / "_chat.txt").read_bytes(),
        b"a\rb\r\r\nc\n\n",
        b"",
        b"no line end",
    ):
        text = data.decode("utf-8-sig")
        assert lines(data) == [line.removesuffix("\r") for line in text.split("\n")]


def test_bytes_that_are_not_utf8_or_nul_name_their_line() -> None:
    with pytest.raises(ExportFormatError, match=r"^chat.txt: line 3: not UTF-8 text$"):
        lines(b"\xef\xbb\xbfone\ntwo\nth\xe2\x82ree\n")  # after a BOM, still line 3
    with pytest.raises(ExportFormatError, match="line 1: not UTF-8"):
        lines(b"\xe2\x82")  # cut short at the end
    with pytest.raises(ExportFormatError, match="line 2: a NUL byte: a binary file"):
        lines(b"12/24/23, 18:01 - Ana: hi\nPNG\0\0\0\n")


def test_a_message_over_the_limit_is_refused_with_its_first_line() -> None:
    long_line = "x" * 1_000
    text = "\n".join(
        [
            "12/24/23, 18:01 - Ana: hi",
            "12/24/23, 18:02 - Bo: a long one",
            *[long_line] * (MAX_MESSAGE_CHARS // len(long_line)),
            "12/24/23, 18:03 - Ana: ok",
        ]
    )
    with pytest.raises(ExportFormatError, match=r"^line 2: a message of more than 1,048,576 char"):
        parse_export(text, is_day_first=False)
    assert len(parse_export(text[: MAX_MESSAGE_CHARS // 2], is_day_first=False)) == 2


def endless(first: list[str], then: str) -> Iterator[str]:
    return itertools.chain(first, itertools.repeat(then))


def test_the_survey_stops_at_a_message_too_long_without_reading_on() -> None:
    survey = Survey()
    with pytest.raises(ExportFormatError, match="line 1: a message of more than"):
        for line in endless(["12/24/23, 18:01 - Ana: hi"], "y" * 4_096):
            survey.add(line)
    assert survey.lines == MAX_MESSAGE_CHARS // 4_097 + 2
    with pytest.raises(ExportFormatError, match="line 1: a message of more than"):
        Survey().add("12/24/23, 18:01 - Ana: " + "z" * MAX_MESSAGE_CHARS)


def test_a_file_that_is_no_export_is_told_from_its_first_lines() -> None:
    survey = Survey()
    with pytest.raises(ExportFormatError, match="line 2: not a WhatsApp chat export"):
        for line in endless(["", "Dear diary,"], "nothing happened today."):
            survey.add(line)
    assert survey.lines == LOOKAHEAD_LINES + 2
    with pytest.raises(ExportFormatError, match="line 1: a line of more than 1,048,576"):
        Survey().add("\x01" * (MAX_MESSAGE_CHARS + 1))
    with pytest.raises(ExportFormatError, match="line 1: text before the first message header"):
        parse_export("Dear diary,\n" * 10 + "12/24/23, 18:01 - Ana: hi", is_day_first=False)


def test_the_second_reading_yields_the_messages_one_at_a_time() -> None:
    text = (PUSTUR / "example-2024_chat.txt").read_bytes().decode("utf-8-sig")
    survey = Survey()
    split = [line.removesuffix("\r") for line in text.split("\n")]
    for line in split:
        survey.add(line)
    plan = survey.plan(None)
    assert plan.messages == len(parse_export(text)) == 52
    assert set(plan.authors) <= {"Loris", "John", "Emily"} and len(plan.authors) == 3
    read: list[str] = []

    def watched() -> Iterator[str]:
        for line in split:
            read.append(line)
            yield line

    first = next(messages_of(watched(), plan))
    assert first.line == 1 and len(read) <= 3  # the next header ends it: nothing more is read
