"""Property tests of the export parser: an export written in any variant WhatsApp uses reads
back as the messages it was written from; arbitrary text never crashes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chatport.errors import ExportFormatError
from chatport.sources.export.parser import parse_export

_WORD = st.lists(
    st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyzABCXYZéñüßçøæ") + ["🤓", "👍🏽", "👩\u200d💻", "ש", "ก"]
    ),
    min_size=1,
    max_size=8,
).map("".join)
_AUTHORS = st.lists(
    st.builds(lambda a, b: f"{a} {b}", _WORD, _WORD) | _WORD, min_size=1, max_size=4, unique=True
)
_LINE = st.builds(
    lambda words, tail: " ".join(words) + tail,
    st.lists(_WORD, min_size=1, max_size=6),
    st.sampled_from(["", "!", "?", " :)", ": yes", " - ok", " 12:30"]),
)
_TEXT = st.lists(_LINE, min_size=1, max_size=3).map("\n".join)


@dataclass(frozen=True)
class Variant:
    ios: bool
    order: str
    sep: str
    year4: bool
    pad: bool
    twelve: str | None
    space: str
    seconds: bool
    dash: str
    comma: bool
    crlf: bool
    marks: bool


_VARIANTS = st.builds(
    Variant,
    ios=st.booleans(),
    order=st.sampled_from(["dmy", "mdy", "ymd"]),
    sep=st.sampled_from(["/", ".", "-"]),
    year4=st.booleans(),
    pad=st.booleans(),
    twelve=st.sampled_from([None, "AM", "am", "a.m.", "a. m."]),
    space=st.sampled_from([" ", "\u00a0", "\u202f"]),
    seconds=st.booleans(),
    dash=st.sampled_from(["-", "\u2013"]),
    comma=st.booleans(),
    crlf=st.booleans(),
    marks=st.booleans(),
)


def _header(moment: datetime, v: Variant) -> str:
    def two(n: int) -> str:
        return f"{n:02d}" if v.pad else str(n)

    year = str(moment.year) if v.year4 or v.order == "ymd" else f"{moment.year % 100:02d}"
    day, month = two(moment.day), two(moment.month)
    fields = {"dmy": (day, month, year), "mdy": (month, day, year), "ymd": (year, month, day)}
    date = v.sep.join(fields[v.order])
    hour = moment.hour
    meridiem = ""
    if v.twelve is not None:
        pm = hour >= 12
        hour = hour % 12 or 12
        meridiem = v.space + (v.twelve.replace("a", "p").replace("A", "P") if pm else v.twelve)
    time = f"{two(hour) if v.twelve else f'{hour:02d}'}:{moment.minute:02d}"
    if v.seconds:
        time += f":{moment.second:02d}"
    mark = "\u200e" if v.marks else ""
    if v.ios:
        return f"{mark}[{date}{',' if v.comma else ''} {time}{meridiem}] "
    return f"{mark}{date}, {time}{meridiem} {v.dash} "


@settings(max_examples=150, deadline=None)
@given(
    variant=_VARIANTS,
    authors=_AUTHORS,
    start=st.datetimes(min_value=datetime(2009, 1, 1), max_value=datetime(2098, 12, 31)),
    steps=st.lists(
        st.tuples(st.integers(0, 400_000), st.integers(0, 3), _TEXT, st.booleans()),
        min_size=1,
        max_size=12,
    ),
)
def test_an_export_in_any_variant_reads_back(variant, authors, start, steps) -> None:
    moment = start.replace(microsecond=0)
    if not variant.seconds:
        moment = moment.replace(second=0)
    written, lines = [], []
    for gap, who, text, system in steps:
        moment += timedelta(seconds=gap if variant.seconds else gap // 60 * 60)
        author = None if system else authors[who % len(authors)]
        body = text.replace(":", "") if system else text
        lines.append(_header(moment, variant) + (f"{author}: {body}" if author else body))
        written.append((moment, author, body))
    newline = "\r\n" if variant.crlf else "\n"
    exported = ("\ufeff" if variant.marks else "") + newline.join(lines) + newline
    order = None if variant.order == "ymd" else variant.order == "dmy"
    read = parse_export(exported.removeprefix("\ufeff"), is_day_first=order)
    assert [(m.local_time, m.author, m.text) for m in read] == written


@settings(max_examples=200, deadline=None)
@given(
    st.text()
    | st.lists(
        st.sampled_from(
            [
                "12/24/23, 18:01 - Ana: hi",
                "[24.12.23, 18:01:02] Bo: hey",
                "\u200e[1.2.2019, 00:00:00] X:",
                "99/99/99, 99:99 - Z: bad",
                "2/30/20, 1:61 PM - A: b",
                "",
                "<attached: x.jpg>",
                "\ufeff",
            ]
        )
        | st.text(max_size=30)
    ).map("\n".join)
)
def test_any_text_parses_or_says_why(text: str) -> None:
    try:
        messages = parse_export(text, is_day_first=True)
    except ExportFormatError as error:
        assert "line" in str(error) or "date" in str(error)
        return
    assert all(m.line >= 1 for m in messages)
