"""An export's parsed messages -> IncomingMessage for the write path (pure).

Exports carry no ids and no timezone. Local times become UTC in the zone given. An author
whose name is a phone number is that number's `@c.us` contact; any other name is a contact
of this chat only (`<hash>@export`, named). The chat is `--chat` when given (and when that is
a person's chat with one other author, the author is that person); else a 1:1 chat is its
one other author's id, and a chat with more authors a group (`export-<hash>@g.us`).
Message ids are `export-` and a hash of chat, UTC time, author and the ordinal among that
author's messages of that second, so importing the same file again, or a later export that
overlaps it, adds only what is new.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from chatport.domain.model import ContactRef, IncomingMessage, Media
from chatport.domain.normalise import EXPORT_SERVER
from chatport.sources.export.parser import ExportMessage

_MIN_PHONE_DIGITS = 7


@dataclass
class Converted:
    """The messages to write, and what the conversion noticed."""

    chat_id: str
    messages: list[IncomingMessage]
    attachments_found: int = 0
    attachments_missing: list[str] = field(default_factory=list)


def to_incoming(
    parsed: list[ExportMessage],
    *,
    chat_name: str,
    zone: ZoneInfo,
    me: str | None = None,
    chat_id: str | None = None,
    attachments: Mapping[str, int] | None = None,
) -> Converted:
    """The write path's messages for an export's parsed messages (see the module).
    `attachments`: the files beside the text (a .zip; name -> bytes), to match media
    against."""
    others = sorted({m.author for m in parsed if m.author is not None and m.author != me})
    people = {author: contact_of(author, chat_name) for author in others}
    if chat_id is None:
        if len(others) == 1:
            chat_id = people[others[0]].wa_id
        else:
            chat_id = f"export-{_hash(chat_name)[:20]}@g.us"
    elif len(others) == 1 and chat_id.endswith("@c.us"):  # a known person's chat: it is them
        people[others[0]] = ContactRef(wa_id=chat_id, name=others[0])
    converted = Converted(chat_id, [])
    ordinals: Counter[tuple[datetime, str | None]] = Counter()
    for message in parsed:
        sent_at = message.local_time.replace(tzinfo=zone).astimezone(UTC)
        ordinal = ordinals[(sent_at, message.author)]
        ordinals[(sent_at, message.author)] += 1
        key = f"{chat_id}|{sent_at.isoformat()}|{message.author or ''}|{ordinal}"
        from_me = me is not None and message.author == me
        raw = {"source": "whatsapp-export", "line": message.line, "author": message.author}
        if message.edited:
            raw["edited"] = True
        media = None
        if message.filename is not None or message.content_type == "media":
            size = (attachments or {}).get(message.filename or "")
            media = Media(mime=message.mime, filename=message.filename, size=size)
        if message.filename is not None and attachments is not None:
            present = message.filename in attachments
            raw["attachment"] = "present" if present else "missing"
            if present:
                converted.attachments_found += 1
            else:
                converted.attachments_missing.append(message.filename)
        converted.messages.append(
            IncomingMessage(
                external_id=f"export-{_hash(key)[:32]}",
                chat_id=chat_id,
                sent_at=sent_at,
                from_me=from_me,
                author=None if from_me or message.author is None else people[message.author],
                text=message.text,
                content_type=message.content_type,
                media=media,
                chat_name=chat_name,
                raw=raw,
            )
        )
    return converted


def contact_of(author: str, chat_name: str) -> ContactRef:
    """The contact of an export's author: by phone number when the name is one, else a
    person known by name in this chat."""
    digits = "".join(ch for ch in author if ch.isascii() and ch.isdigit())
    rest = "".join(ch for ch in author if not (ch.isascii() and ch.isdigit()))
    if len(digits) >= _MIN_PHONE_DIGITS and not rest.strip(" +-()\u00a0\u202f"):
        return ContactRef(wa_id=f"{digits}@c.us", phone=digits)
    return ContactRef(wa_id=f"{_hash(chat_name + '|' + author)[:20]}@{EXPORT_SERVER}", name=author)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
