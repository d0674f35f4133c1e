"""Real exports carry dirt the parser forgives: invisible marks inside a header, a 24-hour
clock with an AM/PM marker, a line that looks like a header but is no date (kept as text of
the message before it, and counted). A truly ambiguous date order still asks."""

from __future__ import annotations

from datetime import datetime

import pytest

from chatport.errors import ExportFormatError
from chatport.sources.export.parser import parse_export
from chatport.sources.export.survey import Survey


def plan_of(text: str, is_day_first: bool | None = None):
    survey = Survey()
    for line in text.split("\n"):
        survey.add(line)
    return survey.plan(is_day_first)


@pytest.mark.parametrize(
    "header",
    [
        "[\ufeff29.01.18, 12:24:03] Ana: ",  # a BOM inside the bracket
        "[29.01.18,\u200e 12:24:03] Ana: ",  # LRM after the comma
        "[29.01.18, 12:24:03\u200f] Ana: ",  # RLM before the bracket closes
        "[29.01.18,\u00a012:24:03] Ana: ",  # NBSP between date and time
        "\u200e[\u200e29.01.18,\u00a0\u200e12:24:03\u200e]\u00a0Ana: ",  # all of them
    ],
)
def test_invisible_marks_anywhere_in_a_header_are_ignored(header: str) -> None:
    text = f"[29.01.18, 12:20:00] Bo: hi\n{header}hello\n[29.01.18, 12:25:00] Bo: bye"
    messages = parse_export(text)
    assert [(m.local_time, m.author, m.text) for m in messages] == [
        (datetime(2018, 1, 29, 12, 20), "Bo", "hi"),
        (datetime(2018, 1, 29, 12, 24, 3), "Ana", "hello"),
        (datetime(2018, 1, 29, 12, 25), "Bo", "bye"),
    ]
    assert plan_of(text).kept_as_text == 0


def test_marks_in_an_android_header_and_in_the_text_after_it() -> None:
    text = "29/01/2018,\u00a012:24\u200e - Ana: caf\u00e9\u00a0au lait\n29/01/2018, 12:25 - Bo: ok"
    first, second = parse_export(text)
    assert first.local_time == datetime(2018, 1, 29, 12, 24) and first.author == "Ana"
    assert first.text == "caf\u00e9\u00a0au lait"  # the text keeps its NBSP
    assert second.author == "Bo"


def test_an_hour_of_13_to_23_with_am_pm_is_the_24_hour_clock() -> None:
    text = (
        "12/24/23, 11:58 PM - Ana: a\n"
        "12/24/23, 23:59 PM - Ana: b\n"
        "12/25/23, 13:05 AM - Ana: c\n"
        "12/25/23, 12:10 AM - Ana: d\n"
    )
    times = [m.local_time for m in parse_export(text, is_day_first=False)]
    assert times == [
        datetime(2023, 12, 24, 23, 58),
        datetime(2023, 12, 24, 23, 59),
        datetime(2023, 12, 25, 13, 5),
        datetime(2023, 12, 25, 0, 10),
    ]


def test_a_header_that_is_no_date_stays_text_of_the_message_before_it() -> None:
    text = (
        "12/24/23, 18:01 - Ana: hi\n"
        "02/30/23, 18:02 - Ana: the 30th of February\n"
        "12/24/23, 25:03 - Bo: hour 25\n"
        "12/24/23, 18:04 - Bo: minute\n"
        "12/24/23, 18:61 - Bo: 61\n"
        "12/24/23, 18:05 - Ana: bye"
    )
    messages = parse_export(text, is_day_first=False)
    assert [(m.line, m.author) for m in messages] == [(1, "Ana"), (4, "Bo"), (6, "Ana")]
    assert messages[0].text == (
        "hi\n02/30/23, 18:02 - Ana: the 30th of February\n12/24/23, 25:03 - Bo: hour 25"
    )
    assert messages[1].text == "minute\n12/24/23, 18:61 - Bo: 61"
    plan = plan_of(text, is_day_first=False)
    assert (plan.messages, plan.kept_as_text) == (3, 3)


def test_headers_of_another_format_are_counted_as_kept_text() -> None:
    text = "[24.12.23, 18:01:00] Ana: hi\n12/24/23, 18:02 - Bo: quoted\n[24.12.23, 18:03:00] Bo: ok"
    plan = plan_of(text)
    assert (plan.messages, plan.kept_as_text) == (2, 1)


def test_a_file_whose_first_header_is_no_date_names_that_line() -> None:
    with pytest.raises(ExportFormatError, match=r"^line 1: not a date and time"):
        parse_export("02/30/23, 18:01 - Ana: hi\n12/24/23, 18:02 - Ana: ok", is_day_first=False)


def test_dates_that_contradict_each_other_ask_for_the_order_then_follow_it() -> None:
    text = "24/12/23, 18:01 - Ana: day first\n12/25/23, 18:02 - Ana: month first"
    with pytest.raises(ExportFormatError, match="--day-first or --month-first"):
        parse_export(text)
    [message] = parse_export(text, is_day_first=True)
    assert message.text == "day first\n12/25/23, 18:02 - Ana: month first"
    assert plan_of(text, is_day_first=True).kept_as_text == 1


def test_a_truly_ambiguous_order_still_asks() -> None:
    text = "01/02/23, 18:01 - Ana: hi\n03/04/23, 18:02 - Ana: hi"
    with pytest.raises(ExportFormatError, match="give --day-first or --month-first"):
        parse_export(text)
