"""WhatsApp's "Export chat" text: header lines, their format, and the file's date order.

Pure functions, no I/O. A header opens a message: Android `date, time - Author: text` or iOS
`[date, time] Author: text`, with any of WhatsApp's date layouts (DMY, MDY, YMD; `/ . -`; 2- or
4-digit years), 12 or 24 hours (`PM`, `p.m.`, `p. m.`, with a space, NBSP or U+202F before),
optional seconds. Dirt is forgiven: invisible marks (BOM, LRM, RLM, other direction marks,
zero-width spaces) anywhere in a header are ignored and a no-break space there is a space; an
hour of 13-23 with AM/PM is read as the 24-hour clock. A file keeps one format: the format
most header-like lines share is the file's, and a line in another format, or one that is no
date and time, is body text of the message before it. Day-first or month-first is read from
the whole file (the parser gathers what `day_first` needs as it reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from chatport.errors import ExportFormatError

_MARKS = "\u200e\u200f\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = _MARKS + "\u200b\u200c\u200d\u2060\u061c"
_SPACES = "\u00a0\u202f\u2007"
_DIRT = re.compile(f"[{_INVISIBLE}{_SPACES}]")
_LEAD = re.compile(rf"[{_INVISIBLE}{_SPACES}]*[\[\d]")
_CLEAN = str.maketrans({**dict.fromkeys(_INVISIBLE, None), **dict.fromkeys(_SPACES, " ")})
_HEADER_SPAN = 64
"""How far into a line its header can reach, marks included (a clean one takes at most 35)."""


def _stamp(name: str) -> str:
    date = rf"\d{{1,4}}(?P<{name}_sep>[./-])\d{{1,2}}(?P={name}_sep)\d{{1,4}}"
    time = (
        r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?\.?"
        rf"(?:[ \u00a0\u202f]*(?P<{name}_m>[AaPp]\.?[ \u00a0\u202f]?[Mm]\.?))?"
    )
    return date, time


_IOS_DATE, _IOS_TIME = _stamp("ios")
_ANDROID_DATE, _ANDROID_TIME = _stamp("android")
_HEADER = re.compile(
    rf"^[{_MARKS}]*(?:\[(?P<ios>{_IOS_DATE}[, ]\s*{_IOS_TIME})\] ?"
    rf"|(?P<android>{_ANDROID_DATE},? {_ANDROID_TIME}) ?[-\u2013] )(?P<rest>.*)$",
    re.DOTALL,
)
_NUMBERS = re.compile(r"\d+")
_QUOTES = '"“”«»'


@dataclass(frozen=True)
class Header:
    """A header line, taken apart (date fields as written; the order is the file's)."""

    line: int
    fields: tuple[int, int, int]
    year_first: bool
    year_digits: int
    hour: int
    minute: int
    second: int
    meridiem: str | None
    layout: str
    rest: str

    @property
    def signature(self) -> tuple:
        """What a file's headers share: layout, year place and width, seconds, 12 hours."""
        return (self.layout, self.year_first, self.year_digits, self.meridiem is not None)


def header_of(text: str, line: int) -> Header | None:
    """The header a line starts with (invisible marks in it ignored), or None."""
    match = _HEADER.match(text)
    if match is not None:
        return _header(match, line, match.group("rest"))
    if _LEAD.match(text) is None or _DIRT.search(text, 0, _HEADER_SPAN) is None:
        return None
    return _cleaned_header(text, line)


def _header(match: re.Match, line: int, rest: str) -> Header:
    stamp = match.group("ios") or match.group("android")
    numbers = [int(n) for n in _NUMBERS.findall(stamp)]
    widths = [len(n) for n in _NUMBERS.findall(stamp)[:3]]
    meridiem = match.group("ios_m") or match.group("android_m")
    if meridiem is not None:
        meridiem = "pm" if meridiem[0] in "Pp" else "am"
    hour, minute = numbers[3], numbers[4]
    second = numbers[5] if len(numbers) > 5 else 0
    year_first = widths[0] == 4
    return Header(
        line=line,
        fields=(numbers[0], numbers[1], numbers[2]),
        year_first=year_first,
        year_digits=widths[0] if year_first else widths[2],
        hour=hour,
        minute=minute,
        second=second,
        meridiem=meridiem,
        layout="ios" if match.group("ios") else "android",
        rest=rest,
    )


def _cleaned_header(text: str, line: int) -> Header | None:
    """The header of a line whose start holds invisible marks or odd spaces, read without the
    marks and with plain spaces; its `rest` is the line's own text after the header."""
    window = text[:_HEADER_SPAN]
    cleaned = window.translate(_CLEAN)
    match = _HEADER.match(cleaned + text[_HEADER_SPAN:])
    if match is None:
        return None
    start = match.start("rest")
    kept = [index for index, char in enumerate(window) if char not in _INVISIBLE]
    at = kept[start] if start < len(kept) else len(window) + start - len(kept)
    return _header(match, line, text[at:])


def day_first(
    year_first: bool, day_line: int | None, month_line: int | None, given: bool | None
) -> bool:
    """Whether the file's dates are day-first, from what its headers showed: whether they are
    year-first (then year-month-day), and the first line whose first field, and the first whose
    second field, is above 12 and that is a date in that order (None: no such line); `given`
    (--day-first / --month-first) decides when they cannot tell, or contradict each other."""
    if year_first:
        return False
    day_seen, month_seen = day_line is not None, month_line is not None
    if day_seen and month_seen:
        if given is not None:
            return given
        raise ExportFormatError(
            "dates contradict each other: some have a first field above 12, others a second "
            f"(e.g. line {day_line} and line {month_line}): give --day-first or --month-first"
        )
    if day_seen or month_seen:
        if given is not None and given != day_seen:
            order = "day-first" if day_seen else "month-first"
            raise ExportFormatError(f"the dates are {order} (line {day_line or month_line})")
        return day_seen
    if given is None:
        raise ExportFormatError(
            "every date could be day-first or month-first (no day above 12): "
            "give --day-first or --month-first"
        )
    return given


def moment(header: Header, is_day_first: bool) -> datetime:
    """The header's local date and time (naive); ExportFormatError when it is no date and
    time (`reading_errors` says in which orders it is one)."""
    a, b, c = header.fields
    if header.year_first:
        year, month, day = a, b, c
    elif is_day_first:
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if header.year_digits == 2:
        year += 2000
    hour = header.hour
    if header.meridiem is not None and hour <= 12:  # 13-23: a 24-hour clock with a marker
        hour = hour % 12 + (12 if header.meridiem == "pm" else 0)
    try:
        return datetime(year, month, day, hour, header.minute, header.second)
    except ValueError as error:
        raise ExportFormatError(f"line {header.line}: not a date and time ({error})") from None


def reading_errors(header: Header) -> dict[bool, str | None]:
    """For each date order the header could be in (day-first True, month-first False; only
    False when it is year-first), why it is no date and time in that order (None: it is)."""
    errors: dict[bool, str | None] = {}
    for order in (False,) if header.year_first else (True, False):
        try:
            moment(header, order)
        except ExportFormatError as error:
            errors[order] = str(error)
        else:
            errors[order] = None
    return errors


def author_and_text(rest: str) -> tuple[str | None, str]:
    """`Author: text` -> (author, text); `Author:` ending its line -> (author, the lines
    after); a line with no author is a system line (None, text)."""
    first, _, more = rest.partition("\n")
    cut = first.find(": ")
    if cut > 0:
        author, text = first[:cut], rest[cut + 2 :]
    elif first.endswith(":") and len(first) > 1:
        author, text = first[:-1], more
    else:
        return None, strip_marks(rest)
    author = strip_marks(author).strip()
    if not author or any(quote in author for quote in _QUOTES):
        return None, strip_marks(rest)
    return author, text


def strip_marks(text: str) -> str:
    """`text` without the direction marks and BOMs WhatsApp scatters around."""
    return text.strip(_MARKS)
