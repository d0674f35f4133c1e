"""A WhatsApp "Export chat" text -> its messages, in file order (pure; see `format.py`).

The text is read twice, a line at a time: `Survey` learns the file's header format, date order
and authors, and checks every message, keeping no text; `messages_of` then yields the messages
one by one. Memory is that of one message (at most MAX_MESSAGE_CHARS), whatever the file's size.

Multi-line messages keep their lines; lines before the first header must be blank; system
lines (no author) are `system` messages; attachments (`<attached: f>`, `f (file attached)`,
`<Media omitted>` and their translations) are media messages with the file name when given;
deleted-message placeholders are `revoked` messages without text; the edited marker is taken
off the text and remembered.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from chatport.domain.model import ContentType
from chatport.errors import ExportFormatError
from chatport.sources.export.format import (
    Header,
    author_and_text,
    header_of,
    moment,
    strip_marks,
)
from chatport.sources.export.survey import MAX_MESSAGE_CHARS, Plan, Survey, too_long

_ATTACHED = re.compile(r"^<attached: (?P<file>[^>]+)>$")
_FILE_ATTACHED = re.compile(
    r"^(?P<file>.+?) \((?:file attached|datei angehängt|archivo adjunto|fichier joint|"
    r"arquivo anexado|file allegato|bestand bijgevoegd|файл прикреплен)\)$",
    re.IGNORECASE,
)
_OMITTED = {
    "<media omitted>": ContentType.MEDIA,
    "<medien ausgeschlossen>": ContentType.MEDIA,
    "<multimedia omitido>": ContentType.MEDIA,
    "<médias omis>": ContentType.MEDIA,
    "<mídia oculta>": ContentType.MEDIA,
    "<media weggelaten>": ContentType.MEDIA,
    "<media omessi>": ContentType.MEDIA,
    "image omitted": ContentType.IMAGE,
    "video omitted": ContentType.VIDEO,
    "audio omitted": ContentType.AUDIO,
    "sticker omitted": ContentType.STICKER,
    "document omitted": ContentType.DOCUMENT,
    "gif omitted": ContentType.VIDEO,
    "contact card omitted": ContentType.CONTACT,
    "bild weggelassen": ContentType.IMAGE,
    "video weggelassen": ContentType.VIDEO,
    "audio weggelassen": ContentType.AUDIO,
    "sticker weggelassen": ContentType.STICKER,
    "imagen omitida": ContentType.IMAGE,
    "video omitido": ContentType.VIDEO,
    "audio omitido": ContentType.AUDIO,
    "sticker omitido": ContentType.STICKER,
    "imagem ocultada": ContentType.IMAGE,
    "vídeo oculto": ContentType.VIDEO,
    "áudio ocultado": ContentType.AUDIO,
}
_DELETED = {
    "this message was deleted",
    "you deleted this message",
    "se eliminó este mensaje",
    "eliminaste este mensaje",
    "diese nachricht wurde gelöscht",
    "du hast diese nachricht gelöscht",
    "ce message a été supprimé",
    "vous avez supprimé ce message",
    "mensagem apagada",
    "você apagou esta mensagem",
    "questo messaggio è stato eliminato",
    "hai eliminato questo messaggio",
}
_EDITED = re.compile(
    r"\s*[\u200e]?<(?:this message was edited|diese nachricht wurde bearbeitet|"
    r"se editó este mensaje\.?|mensagem editada|ce message a été modifié|"
    r"messaggio modificato)>$",
    re.IGNORECASE,
)
_NAMED = re.compile(r"(?:^|-)(PHOTO|IMG|VIDEO|VID|GIF|AUDIO|AUD|PTT|STICKER|STK)-")
_BY_NAME = {
    "PHOTO": ContentType.IMAGE,
    "IMG": ContentType.IMAGE,
    "VIDEO": ContentType.VIDEO,
    "VID": ContentType.VIDEO,
    "GIF": ContentType.VIDEO,
    "AUDIO": ContentType.AUDIO,
    "AUD": ContentType.AUDIO,
    "PTT": ContentType.VOICE,
    "STICKER": ContentType.STICKER,
    "STK": ContentType.STICKER,
}


@dataclass(frozen=True)
class ExportMessage:
    """One message of an export, as written (local time: exports carry no timezone)."""

    line: int
    local_time: datetime
    author: str | None
    text: str | None
    content_type: str
    filename: str | None = None
    mime: str | None = None
    edited: bool = False


def parse_export(text: str, *, is_day_first: bool | None = None) -> list[ExportMessage]:
    """Every message of an export's text; ExportFormatError (with the line) when the text
    is not an export, or its date order cannot be told and `is_day_first` is None."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    survey = Survey()
    for line in lines:
        survey.add(line)
    return list(messages_of(lines, survey.plan(is_day_first)))


def messages_of(lines: Iterable[str], plan: Plan) -> Iterator[ExportMessage]:
    """The messages of an export's lines (as `Survey` read them: no line ends), one at a time;
    memory for one message."""
    current: Header | None = None
    body: list[str] = []
    size = 0
    when: datetime | None = None
    for number, line in enumerate(lines, 1):
        header = header_of(line, number)
        if header is not None and header.signature == plan.signature:
            opens = _moment_or_none(header, plan.day_first)
            if opens is not None:
                if current is not None and when is not None:
                    yield _message(current, body, when)
                current, when, body, size = header, opens, [], len(line) + 1
                continue
        if current is not None:
            body.append(line)
            size += len(line) + 1
            if size > MAX_MESSAGE_CHARS:  # the file changed since it was surveyed
                raise ExportFormatError(too_long(current.line))
    if current is not None and when is not None:
        yield _message(current, body, when)


def _moment_or_none(header: Header, is_day_first: bool) -> datetime | None:
    """The header's time, or None when it is no date and time (then it is text)."""
    try:
        return moment(header, is_day_first)
    except ExportFormatError:
        return None


def _message(header: Header, continuation: list[str], when: datetime) -> ExportMessage:
    author, body = author_and_text("\n".join([header.rest, *continuation]).rstrip("\r\n"))
    if author is None:
        return ExportMessage(header.line, when, None, body, ContentType.SYSTEM)
    edited = _EDITED.search(body) if ">" in body[-2:] else None
    if edited:
        body = body[: edited.start()]
    first, _, caption = body.partition("\n")
    first = strip_marks(first).strip()
    kind, filename = _media(first)
    if kind is not None:
        mime = mimetypes.guess_type(filename)[0] if filename else None
        return ExportMessage(
            header.line, when, author, caption or None, kind, filename, mime, bool(edited)
        )
    if not caption and first.rstrip(".").lower() in _DELETED:
        return ExportMessage(header.line, when, author, None, ContentType.REVOKED)
    kind = ContentType.POLL if first.startswith("POLL:") else ContentType.TEXT
    return ExportMessage(header.line, when, author, body, kind, edited=bool(edited))


def _media(first: str) -> tuple[str | None, str | None]:
    match = _ATTACHED.match(first) or _FILE_ATTACHED.match(first)
    if match is not None:
        filename = match.group("file").strip()
        return kind_of_file(filename), filename
    kind = _OMITTED.get(first.lower())
    return (kind, None) if kind is not None else (None, None)


def kind_of_file(filename: str) -> str:
    """The content type of an attachment, from WhatsApp's file name or its extension."""
    named = _NAMED.search(filename.upper())
    if named is not None:
        return _BY_NAME[named.group(1)]
    mime = mimetypes.guess_type(filename)[0] or ""
    if filename.lower().endswith(".opus"):
        return ContentType.VOICE
    for prefix, kind in (("image/", ContentType.IMAGE), ("video/", ContentType.VIDEO)):
        if mime.startswith(prefix):
            return kind
    return ContentType.AUDIO if mime.startswith("audio/") else ContentType.DOCUMENT
