"""Import Baileys history sync payloads (`messaging-history.set`) into a channel: their LID
pairs are stored first (contacts and chats first seen by a LID merge), then their messages go
through the write path in chunks of `CHUNK` (one transaction each; a re-import adds
nothing). The CLI (`chatport import baileys FILE`) and `POST /webhooks/baileys/{channel}`
call it.

A file is read as a stream, twice: JSON lines a line at a time, first to check every payload
(UTF-8, JSON, a payload, at most MAX_PAYLOAD_BYTES; an error names the line and nothing is
written), then to write them; a file that is one JSON document (pretty-printed) is read whole,
up to MAX_PAYLOAD_BYTES. Memory is that of the largest payload, whatever the file's size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from chatport.domain.model import Channel, Origin
from chatport.errors import BaileysFormatError
from chatport.ingest.history import HistoryReport, write_history
from chatport.sources.baileys.history import payloads, read_history
from chatport.sources.base import HistoryPart
from chatport.store.database import Database

CHUNK = 1_000

MAX_PAYLOAD_BYTES = 256 << 20
"""The largest payload a file may hold: one line of JSON lines, or the whole file when it is
one JSON document (256 MiB; a payload takes several times its size in memory once decoded)."""

_BOM = b"\xef\xbb\xbf"


def import_text(database: Database, channel: Channel, text: str) -> HistoryReport:
    """Import a file's text: one payload, or JSON lines of several."""
    try:
        return import_payloads(database, channel, list(payloads(text)))
    except ValueError as error:
        raise BaileysFormatError(str(error)) from None


def import_file(database: Database, channel: Channel, path: Path) -> HistoryReport:
    """Import a file of payloads, read as a stream (see the module): checked whole first,
    then written."""
    for line, payload in file_payloads(path):
        _check(line, payload)
    return import_payloads(database, channel, file_payloads(path))


def import_payloads(
    database: Database, channel: Channel, items: Iterable[tuple[int, Any]]
) -> HistoryReport:
    """Import decoded payloads, each with its line (for errors)."""
    return write_history(database, channel, _parts(items), origin=Origin.IMPORT, chunk=CHUNK)


def file_payloads(path: Path) -> Iterator[tuple[int, Any]]:
    """The payloads of a file, with their lines: JSON lines read a line at a time (blank
    lines skipped), else the file as one JSON document. BaileysFormatError naming the line:
    not UTF-8, not JSON, a payload over MAX_PAYLOAD_BYTES."""
    seen = False
    with path.open("rb") as stream:
        for number, text in _lines(stream):
            try:
                payload = orjson.loads(text)
            except orjson.JSONDecodeError as error:
                if seen:
                    raise BaileysFormatError(f"line {number}: not JSON ({error})") from None
                broken = (number, str(error))  # perhaps one document over several lines
                break
            seen = True
            yield number, payload
        else:
            if not seen:
                raise BaileysFormatError("line 1: not JSON (the file is empty)")
            return
    yield 1, _document(path, *broken)


def _lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """The lines of a file that are not blank, with their numbers."""
    number = 0
    while piece := stream.readline(MAX_PAYLOAD_BYTES + 1):
        number += 1
        if len(piece) > MAX_PAYLOAD_BYTES:
            raise BaileysFormatError(f"line {number}: {_TOO_LARGE}")
        text = _text(piece.removeprefix(_BOM) if number == 1 else piece, number)
        if text.strip():
            yield number, text


_TOO_LARGE = f"a payload of more than {MAX_PAYLOAD_BYTES >> 20} MiB"


def _document(path: Path, first: int, first_error: str) -> Any:
    """The file as one JSON document (its first line, `first`, is no JSON of its own)."""
    with path.open("rb") as stream:
        data = stream.read(MAX_PAYLOAD_BYTES + 1)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise BaileysFormatError(
            f"line {first}: not JSON, and the file is too large to be one JSON document "
            f"({_TOO_LARGE}; save the payloads as JSON lines, one per line)"
        )
    data = data.removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BaileysFormatError(f"line {line}: not UTF-8 text") from None
    stripped = text.strip()
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        if "\n" not in stripped:
            raise BaileysFormatError("line 1: not JSON") from None
        raise BaileysFormatError(f"line {first}: not JSON ({first_error})") from None


def _text(piece: bytes, number: int) -> str:
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        raise BaileysFormatError(f"line {number}: not UTF-8 text") from None


def _check(line: int, payload: Any) -> None:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("messages", []), list):
        raise BaileysFormatError(f"line {line}: not a messaging-history.set payload")


def _parts(items: Iterable[tuple[int, Any]]) -> Iterator[HistoryPart]:
    for line, payload in items:
        _check(line, payload)
        yield read_history(payload)
