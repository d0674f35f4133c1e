"""Import a WhatsApp "Export chat" file (.txt, or the .zip WhatsApp shares with media) into
a channel, reading it as a stream, twice: the first reading checks the whole file (UTF-8, line
by line; the header format, date order and authors; no message over MAX_MESSAGE_CHARS) and
keeps no text; the second parses it again and writes its messages through the write path in
chunks of CHUNK messages (or CHUNK_CHARS characters), one transaction each. A file chatport
cannot read writes nothing and the error names the line; memory is that of a chunk, whatever
the file's size. A write that fails half-way leaves the chunks before it: importing the file
again adds only the rest (message ids are stable)."""

from __future__ import annotations

import codecs
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal

from chatport.domain.model import BatchResult, Channel, Origin
from chatport.errors import ConfigurationError, ExportFormatError
from chatport.ingest.history import write_history
from chatport.sources.base import HistoryPart
from chatport.sources.export.messages import Converter
from chatport.sources.export.parser import messages_of
from chatport.sources.export.survey import MAX_MESSAGE_CHARS, Plan, Survey
from chatport.store.database import Database
from chatport.store.write_path.spellings import stored_chat

CHUNK = 5_000
"""Messages written in one transaction."""

CHUNK_CHARS = 4 << 20
"""Characters of text (about) after which a chunk is written before it has CHUNK messages,
so that a chunk of long messages stays small."""

_LINE_BYTES = 4 * MAX_MESSAGE_CHARS + 4
"""A line of more bytes than this holds more characters than a message may (UTF-8 spends at
most four bytes a character): it is read up to here, which is enough to refuse it."""

_CHAT_FILE_NAMES = re.compile(
    r"^(?:WhatsApp Chat with |WhatsApp Chat - |WhatsApp-Chat mit |Chat de WhatsApp con |"
    r"Discussion WhatsApp avec |Conversa do WhatsApp com )",
    re.IGNORECASE,
)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


@dataclass
class ExportFile:
    """An export on disk: the file, the chat text's member when it is a zip, the chat name
    its file name suggests, and the files beside the text (name -> bytes; None for a .txt)."""

    path: Path
    member: str | None
    chat_name: str
    attachments: dict[str, int] | None = None

    @property
    def where(self) -> str:
        """How errors name the text: the file, or the zip and its member."""
        return self.path.name if self.member is None else f"{self.path.name}:{self.member}"

    def lines(self) -> Iterator[str]:
        """The text's lines (see `text_lines`), read from the file as a stream."""
        with self._stream() as stream:
            yield from text_lines(stream, self.where)

    @contextmanager
    def _stream(self) -> Iterator[BinaryIO]:
        if self.member is None:
            with self.path.open("rb") as stream:
                yield stream
            return
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as member:
                yield io.BufferedReader(member, 1 << 16)  # its readline: 6x ZipExtFile's
        except _ZIP_ERRORS as error:  # a bad CRC is seen at the member's end
            raise ExportFormatError(f"{self.where}: corrupt zip: {error}") from None
        except (NotImplementedError, RuntimeError) as error:  # a method, a password
            raise ExportFormatError(f"{self.where}: cannot read the zip: {error}") from None


@dataclass
class ExportReport:
    """What an export import did."""

    chat_id: str
    chat_name: str
    messages: int
    result: BatchResult
    attachments_found: int = 0
    attachments_missing: list[str] = field(default_factory=list)
    kept_as_text: int = 0
    """Lines that looked like message headers but were kept as text of the message before
    them (another format, or no date and time)."""
    zone: str = "UTC"
    """The zone the export's times were read in."""


def import_export(
    database: Database,
    channel: Channel,
    path: Path,
    *,
    zone: ZoneInfo,
    chat_name: str | None = None,
    chat_id: str | None = None,
    me: str | None = None,
    is_day_first: bool | None = None,
    region: str | None = None,
) -> ExportReport:
    """Import one export file into `channel` (history: quiet, origin `export`); `region`:
    the two-letter region of authors' phone numbers written without a country code (without
    one, such an author is refused: its country is not guessed)."""
    export = open_export(path)
    plan = survey(export, is_day_first)
    national = [(author, line) for author, line in plan.national if author != me]
    if national and region is None:
        author, line = national[0]
        raise ExportFormatError(
            f"line {line}: the author {author!r} is a phone number without its country code: "
            "give --region (e.g. --region BR) or set CHATPORT_DEFAULT_REGION"
        )
    name = chat_name or export.chat_name
    converter = Converter(
        authors=plan.authors,
        chat_name=name,
        zone=zone,
        me=me,
        chat_id=chat_id,
        attachments=export.attachments,
        region=region,
    )
    parts = _parts(export, plan, converter)
    result = write_history(database, channel, parts, origin=Origin.EXPORT, chunk=None).result
    with database.engine.connect() as connection:  # the write path may have respelled it
        chat_id = stored_chat(connection, channel, converter.chat_id)
    return ExportReport(
        chat_id,
        name,
        plan.messages,
        result,
        converter.attachments_found,
        converter.attachments_missing,
        plan.kept_as_text,
        str(zone),
    )


def survey(export: ExportFile, is_day_first: bool | None = None) -> Plan:
    """Read the whole export once and check it (see `parser.Survey`), keeping no text."""
    reading = Survey()
    for line in export.lines():
        reading.add(line)
    return reading.plan(is_day_first)


def _parts(export: ExportFile, plan: Plan, converter: Converter) -> Iterator[HistoryPart]:
    part, chars = HistoryPart(), 0
    for message in messages_of(export.lines(), plan):
        part.messages.append(converter.convert(message))
        chars += len(message.text or "")
        if len(part.messages) >= CHUNK or chars >= CHUNK_CHARS:
            yield part
            part, chars = HistoryPart(), 0
    if part.messages:
        yield part


def open_export(path: Path) -> ExportFile:
    """The export in `path`: a text file, or a zip holding one (`__MACOSX/` ignored; its
    files are listed, not read)."""
    if not path.is_file():
        raise ExportFormatError(f"{path}: no such file")
    if not _looks_like_zip(path):
        return ExportFile(path, None, _chat_name(path.stem))
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except _ZIP_ERRORS as error:
        raise ExportFormatError(f"{path.name}: corrupt zip: {error}") from None
    sizes = {
        info.filename: info.file_size
        for info in infos
        if not info.is_dir() and not info.filename.startswith("__MACOSX/")
    }
    texts = [name for name in sizes if name.lower().endswith(".txt")]
    if not texts:
        raise ExportFormatError(f"{path.name}: no chat text (.txt) in the zip")
    chosen = min(texts, key=lambda name: (PurePosixPath(name).name != "_chat.txt", name))
    stem = PurePosixPath(chosen).stem
    name = _chat_name(path.stem if stem == "_chat" else stem)
    attachments = {
        PurePosixPath(member).name: size for member, size in sizes.items() if member != chosen
    }
    return ExportFile(path, chosen, name, attachments)


def text_lines(stream: BinaryIO, where: str) -> Iterator[str]:
    """The lines of a UTF-8 text, read from `stream` a line at a time, as the parser takes
    them: split at `\\n` only, without it and one `\\r` before it, a BOM at the start dropped
    (a text ending with a line end has a last, empty line). A line longer than a message may
    be is cut (the rest is read and checked, not kept). ExportFormatError naming the line:
    bytes that are not UTF-8, a NUL (a binary file)."""
    number, ended = 0, True
    while piece := stream.readline(_LINE_BYTES):
        number += 1
        ended = piece.endswith(b"\n")
        cut = not ended and len(piece) == _LINE_BYTES
        if number == 1:
            piece = piece.removeprefix(b"\xef\xbb\xbf")
        if cut:
            decoder = codecs.getincrementaldecoder("utf-8")()
            line = _decoded(decoder.decode, piece, where, number)
        else:
            line = _decoded(bytes.decode, piece, where, number)
        yield (line[:-1] if ended else line).removesuffix("\r")
        if cut:  # check the rest of the line
            while not ended and (rest := stream.readline(_LINE_BYTES)):
                ended = rest.endswith(b"\n")
                _decoded(decoder.decode, rest, where, number)
            _decoded(partial(decoder.decode, final=True), b"", where, number)
    if ended:
        yield ""


def _decoded(decode: Callable[[bytes], str], data: bytes, where: str, number: int) -> str:
    if b"\0" in data:
        raise ExportFormatError(f"{where}: line {number}: a NUL byte: a binary file, not a chat")
    try:
        return decode(data)
    except UnicodeDecodeError:
        raise ExportFormatError(f"{where}: line {number}: not UTF-8 text") from None


LOCALTIME_FILES = ("/etc/localtime", "/usr/local/etc/localtime")
"""Where a POSIX machine without a named zone keeps its zone's rules (tzlocal reads them)."""


def local_zone(name: str | None = None) -> ZoneInfo:
    """The zone `name` (`--tz`), else this machine's as tzlocal reads it (TZ; the system's
    setting on Linux, macOS and Windows; a copied /etc/localtime). ConfigurationError when
    the zone is unknown, or the machine names none (then `--tz` must)."""
    if name:
        try:
            return ZoneInfo(name.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"unknown time zone {name!r} (e.g. Europe/Berlin)") from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            zone = tzlocal.reload_localzone()  # not the cached one: TZ may have changed
    except (ZoneInfoNotFoundError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unknown"
        raise ConfigurationError(
            f"cannot tell this machine's time zone ({reason}): give --tz, e.g. --tz Europe/Berlin"
        ) from None
    named = tzlocal.get_localzone_name() is not None or os.name == "nt"
    if not named and not any(os.path.exists(path) for path in LOCALTIME_FILES):
        raise ConfigurationError(
            "this machine names no time zone (no TZ, no /etc/localtime): give --tz, "
            "e.g. --tz America/Sao_Paulo"
        )
    for warning in caught:  # tzlocal's, e.g. a zone whose offset is not the clock's
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return zone


def _looks_like_zip(path: Path) -> bool:
    with path.open("rb") as stream:
        start = stream.read(4)
    return start == b"PK\x03\x04" or zipfile.is_zipfile(path)


def _chat_name(stem: str) -> str:
    return _CHAT_FILE_NAMES.sub("", stem).strip() or stem
