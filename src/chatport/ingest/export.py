"""Import a WhatsApp "Export chat" file (.txt, or the .zip WhatsApp shares with media) into
a channel: read, parse and check it whole, then write it in one transaction through the
write path (an unreadable file writes nothing; the error names the line)."""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatport.domain.model import BatchResult, Channel, Origin
from chatport.errors import ConfigurationError, ExportFormatError
from chatport.ingest.history import write_history
from chatport.sources.base import HistoryPart
from chatport.sources.export.messages import to_incoming
from chatport.sources.export.parser import parse_export
from chatport.store.database import Database

_CHAT_FILE_NAMES = re.compile(
    r"^(?:WhatsApp Chat with |WhatsApp Chat - |WhatsApp-Chat mit |Chat de WhatsApp con |"
    r"Discussion WhatsApp avec |Conversa do WhatsApp com )",
    re.IGNORECASE,
)


@dataclass
class ExportFile:
    """An export's text, the chat name its file name suggests, and the files beside it
    (name -> bytes)."""

    text: str
    chat_name: str
    attachments: dict[str, int] | None = None


@dataclass
class ExportReport:
    """What an export import did."""

    chat_id: str
    chat_name: str
    messages: int
    result: BatchResult
    attachments_found: int = 0
    attachments_missing: list[str] = field(default_factory=list)


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
) -> ExportReport:
    """Import one export file into `channel` (history: quiet, origin `export`)."""
    export = read_export(path)
    parsed = parse_export(export.text, is_day_first=is_day_first)
    name = chat_name or export.chat_name
    converted = to_incoming(
        parsed, chat_name=name, zone=zone, me=me, chat_id=chat_id, attachments=export.attachments
    )
    part = HistoryPart(messages=converted.messages)
    result = write_history(database, channel, [part], origin=Origin.EXPORT, chunk=None).result
    return ExportReport(
        converted.chat_id,
        name,
        len(parsed),
        result,
        converted.attachments_found,
        converted.attachments_missing,
    )


def read_export(path: Path) -> ExportFile:
    """The export in `path`: a text file, or a zip holding one (`__MACOSX/` ignored)."""
    if not path.is_file():
        raise ExportFormatError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        return ExportFile(_decode(path.read_bytes(), path.name), _chat_name(path.stem))
    with zipfile.ZipFile(path) as archive:
        sizes = {
            info.filename: info.file_size
            for info in archive.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        }
        members = list(sizes)
        texts = [name for name in members if name.lower().endswith(".txt")]
        if not texts:
            raise ExportFormatError(f"{path.name}: no chat text (.txt) in the zip")
        chosen = min(texts, key=lambda name: (PurePosixPath(name).name != "_chat.txt", name))
        text = _decode(archive.read(chosen), f"{path.name}:{chosen}")
    stem = PurePosixPath(chosen).stem
    name = _chat_name(path.stem if stem == "_chat" else stem)
    attachments = {
        PurePosixPath(member).name: size for member, size in sizes.items() if member != chosen
    }
    return ExportFile(text, name, attachments)


def local_zone(name: str | None = None) -> ZoneInfo:
    """The zone `name`, else this machine's (TZ, then /etc/localtime), else UTC."""
    name = name or os.environ.get("TZ") or _system_zone()
    try:
        return ZoneInfo(name.lstrip(":"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {name!r} (e.g. Europe/Berlin)") from None


def _system_zone() -> str:
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return "UTC"
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ExportFormatError(f"{where}: line {line}: not UTF-8 text") from None


def _chat_name(stem: str) -> str:
    return _CHAT_FILE_NAMES.sub("", stem).strip() or stem
