"""The first reading of a WhatsApp "Export chat" text (pure; see `format.py`): line by line,
keeping no text, it learns the file's header format, date order and authors, checks every
message, and plans the second reading (`parser.messages_of`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatport.errors import ExportFormatError
from chatport.phones import is_national
from chatport.sources.export.format import (
    Header,
    author_and_text,
    day_first,
    header_of,
    reading_errors,
    strip_marks,
)

MAX_MESSAGE_CHARS = 1 << 20
"""The most characters one message may hold, its lines and line breaks together (1 MiB of
text, counting a line break after each line): a longer message is refused, so that reading an export
takes memory for one message, never for the file."""

LOOKAHEAD_LINES = 1_000
"""How far past a first line that is no header the parser looks for one, to tell "text before
the first message header" from "not an export" (also at most MAX_MESSAGE_CHARS characters)."""


@dataclass(frozen=True)
class Plan:
    """What the first reading of an export found, for the second to parse it by: the header
    format of the file, its date order, up to three of its authors (enough to tell a 1:1 chat
    from a group, with or without `--me`), how many messages it holds, how many lines
    looked like headers but are kept as text (another format, or no date and time), and up to
    two authors named by a phone number without its country code, with the line of each
    one's first message (their country depends on a region)."""

    signature: tuple
    day_first: bool
    authors: tuple[str, ...]
    messages: int
    kept_as_text: int = 0
    national: tuple[tuple[str, int], ...] = ()


@dataclass
class _Track:
    """What the survey learns of the messages one header format (signature) would make."""

    year_first: bool
    start: int
    headers: int = 0
    day_line: int | None = None
    month_line: int | None = None
    read: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    first_read: dict[bool, int] = field(default_factory=dict)
    first_bad: dict[bool, tuple[int, str]] = field(default_factory=dict)
    authors: list[str] = field(default_factory=list)
    national: dict[str, int] = field(default_factory=dict)
    size: int = 0
    too_long: int | None = None
    pending: str | None = None
    more: bool = False


class Survey:
    """The first reading of an export, line by line, keeping no text: for each header format
    seen, how many headers, the authors, the date order its dates allow, how many headers read
    as a date and time in each order, the first message over MAX_MESSAGE_CHARS; then `plan`
    picks the file's format (the one most header-like lines share) and its date order, and
    raises what `parse_export` would. A header that is no date and time in the file's order is
    text of the message before it (counted in `Plan.kept_as_text`). Raises early when
    the file cannot be an export whatever comes next: text that is no header at its start, or a
    message too long under every format seen."""

    def __init__(self) -> None:
        self.lines = 0
        self.first_text: int | None = None  # the first line that is not blank
        self.stray_chars = 0  # of the lines after a first line that is no header
        self.tracks: dict[tuple, _Track] = {}
        self.too_long = 0  # tracks with a message over MAX_MESSAGE_CHARS
        self.header_like = 0  # lines that look like headers, of any format

    def add(self, line: str) -> None:
        """Read the next line (without its line end)."""
        self.lines += 1
        number = self.lines
        header = header_of(line, number)
        errors = reading_errors(header) if header is not None else {}
        opens = header if header is not None and not all(errors.values()) else None
        if self.first_text is None:
            if header is not None or strip_marks(line).strip():
                self.first_text = number
        elif not self.tracks:
            self._stray(line, header)
        size = len(line) + 1
        for signature, track in self.tracks.items():
            if opens is not None and signature == opens.signature:
                continue
            track.size += size
            if track.size > MAX_MESSAGE_CHARS and track.too_long is None:
                self._over(track, track.start)
            if track.pending is not None and not track.more and line.strip("\r"):
                track.more = True
        if header is not None:
            self.header_like += 1
            self._header(header, errors, size)
        if size > MAX_MESSAGE_CHARS and not self.tracks:
            raise ExportFormatError(
                f"line {number}: a line of more than {MAX_MESSAGE_CHARS:,} characters before "
                "the first message header"
            )
        if self.too_long and self.too_long == len(self.tracks):
            leading = max(self.tracks.values(), key=lambda track: track.headers)
            raise ExportFormatError(too_long(leading.too_long or leading.start))

    def _over(self, track: _Track, line: int) -> None:
        track.too_long = line
        self.too_long += 1

    def _stray(self, line: str, header: Header | None) -> None:
        """A line after a first line of text that is no header: a header now means text
        before the first header; none for long means no export."""
        if header is not None:
            raise ExportFormatError(f"line {self.first_text}: text before the first message header")
        self.stray_chars += len(line) + 1
        if self.lines - self.first_text >= LOOKAHEAD_LINES or self.stray_chars > MAX_MESSAGE_CHARS:
            raise ExportFormatError(
                f"line {self.first_text}: not a WhatsApp chat export (no message header in "
                f"its first {LOOKAHEAD_LINES:,} lines or {MAX_MESSAGE_CHARS:,} characters)"
            )

    def _header(self, header: Header, errors: dict[bool, str | None], size: int) -> None:
        track = self.tracks.get(header.signature)
        if track is None:
            track = self.tracks[header.signature] = _Track(header.year_first, header.line)
        track.headers += 1
        for order, error in errors.items():
            if error is None:
                track.read[order] += 1
                track.first_read.setdefault(order, header.line)
            else:
                track.first_bad.setdefault(order, (header.line, error))
        if all(errors.values()):  # no date and time in any order: text of the message before
            return
        self._close(track)
        track.start, track.size = header.line, size
        if size > MAX_MESSAGE_CHARS and track.too_long is None:
            self._over(track, header.line)
        if track.day_line is None and header.fields[0] > 12 and errors.get(True, "") is None:
            track.day_line = header.line
        if track.month_line is None and header.fields[1] > 12 and errors.get(False) is None:
            track.month_line = header.line
        if header.rest.endswith("\r"):  # its author depends on the lines that follow
            track.pending, track.more = header.rest, False
        else:
            track.pending = None
            _author(track, header.rest)

    def _close(self, track: _Track) -> None:
        if track.pending is not None:
            _author(track, track.pending if track.more else track.pending.rstrip("\r\n"))
            track.pending = None

    def plan(self, is_day_first: bool | None) -> Plan:
        """The file's plan, once every line is read; ExportFormatError (with the line) when
        it is not an export chatport can read."""
        if not self.tracks:
            raise ExportFormatError("line 1: no WhatsApp message header in the file")
        track = max(self.tracks.values(), key=lambda track: track.headers)
        signature = next(key for key, value in self.tracks.items() if value is track)
        self._close(track)
        earliest = min(track.first_read.values(), default=None)
        if earliest is not None and self.first_text is not None and self.first_text < earliest:
            self._before(track, self.first_text)
        if track.too_long is not None:
            raise ExportFormatError(too_long(track.too_long))
        order = day_first(track.year_first, track.day_line, track.month_line, is_day_first)
        first = track.first_read.get(order)
        if first is None:  # no header of the format is a date and time in its order
            raise ExportFormatError(track.first_bad[order][1])
        if self.first_text is not None and self.first_text < first:
            self._before(track, self.first_text)
        messages = track.read[order]
        return Plan(
            signature,
            order,
            tuple(track.authors),
            messages,
            self.header_like - messages,
            tuple(track.national.items()),
        )

    def _before(self, track: _Track, line: int) -> None:
        """Raise for text at `line`, before the file's first message header."""
        for bad_line, error in track.first_bad.values():
            if bad_line == line:  # a header that is no date and time has no message before it
                raise ExportFormatError(error)
        raise ExportFormatError(f"line {line}: text before the first message header")


def _author(track: _Track, first_line: str) -> None:
    author, _ = author_and_text(first_line)
    if author is None:
        return
    if len(track.authors) < 3 and author not in track.authors:
        track.authors.append(author)
    if len(track.national) < 2 and author not in track.national and is_national(author):
        track.national[author] = track.start


def too_long(line: int) -> str:
    return f"line {line}: a message of more than {MAX_MESSAGE_CHARS:,} characters"
