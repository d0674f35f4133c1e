"""An export's parsed messages -> IncomingMessage for the write path (pure).

Exports carry no ids and no timezone. Local times become UTC in the zone given. An author
whose name is a phone number is that number's `@c.us` contact (read by `phones.phone_digits`,
in the region given when it has no country code); any other name is a contact of this chat
only (`<hash>@export`, named). The chat is `--chat` when given (and when that is
a person's chat with one other author, the author is that person); else a 1:1 chat is its
one other author's id, and a chat with more authors a group (`export-<hash>@g.us`).
Message ids are `export-` and a hash of chat, UTC time, author and the ordinal among that
author's messages of that second, so importing the same file again, or a later export that
overlaps it, adds only what is new. (Those ordinals are remembered for the seconds within two
days of the newest message seen, and for all of them in an export of up to 100,000 messages;
an export out of time order by more than that could number a message differently.)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chatport.domain.model import ContactRef, IncomingMessage, Media
from chatport.domain.normalise import EXPORT_SERVER
from chatport.phones import phone_digits
from chatport.sources.export.parser import ExportMessage

_PEOPLE_KEPT = 10_000
_ORDINALS_KEPT = 100_000
_ORDINALS_HORIZON = timedelta(days=2)


class Converter:
    """Maps an export's messages, one at a time, for the write path (see the module).
    `authors`: the file's authors (up to three are enough: `Plan.authors`); `attachments`:
    the files beside the text (a .zip; name -> bytes), to match media against; `region`: the
    two-letter region of phone numbers written without a country code. Counts the attachments
    found and lists those missing as it goes."""

    def __init__(
        self,
        *,
        authors: Iterable[str],
        chat_name: str,
        zone: ZoneInfo,
        me: str | None = None,
        chat_id: str | None = None,
        attachments: Mapping[str, int] | None = None,
        region: str | None = None,
    ) -> None:
        others = sorted({author for author in authors if author != me})
        self.people: dict[str, ContactRef] = {}
        self.region = region
        if chat_id is None:
            if len(others) == 1:
                chat_id = contact_of(others[0], chat_name, region).wa_id
            else:
                chat_id = f"export-{_hash(chat_name)[:20]}@g.us"
        elif len(others) == 1 and chat_id.endswith("@c.us"):  # a known person's chat: it is them
            self.people[others[0]] = ContactRef(wa_id=chat_id, name=others[0])
        self.chat_id, self.chat_name, self.zone, self.me = chat_id, chat_name, zone, me
        self.attachments = attachments
        self.attachments_found = 0
        self.attachments_missing: list[str] = []
        self.ordinals: Counter[tuple[datetime, str | None]] = Counter()
        self.ordinals_kept = _ORDINALS_KEPT
        self.newest: datetime | None = None

    def convert(self, message: ExportMessage) -> IncomingMessage:
        """The write path's message for one of the export's messages."""
        sent_at = message.local_time.replace(tzinfo=self.zone).astimezone(UTC)
        ordinal = self._ordinal(sent_at, message.author)
        key = f"{self.chat_id}|{sent_at.isoformat()}|{message.author or ''}|{ordinal}"
        from_me = self.me is not None and message.author == self.me
        raw = {"source": "whatsapp-export", "line": message.line, "author": message.author}
        if message.edited:
            raw["edited"] = True
        media = None
        if message.filename is not None or message.content_type == "media":
            size = (self.attachments or {}).get(message.filename or "")
            media = Media(mime=message.mime, filename=message.filename, size=size)
        if message.filename is not None and self.attachments is not None:
            present = message.filename in self.attachments
            raw["attachment"] = "present" if present else "missing"
            if present:
                self.attachments_found += 1
            else:
                self.attachments_missing.append(message.filename)
        author = None
        if not from_me and message.author is not None:
            author = self.people.get(message.author)
            if author is None:
                author = contact_of(message.author, self.chat_name, self.region)
                if len(self.people) < _PEOPLE_KEPT:
                    self.people[message.author] = author
        return IncomingMessage(
            external_id=f"export-{_hash(key)[:32]}",
            chat_id=self.chat_id,
            sent_at=sent_at,
            from_me=from_me,
            author=author,
            text=message.text,
            content_type=message.content_type,
            media=media,
            chat_name=self.chat_name,
            raw=raw,
        )

    def _ordinal(self, sent_at: datetime, author: str | None) -> int:
        """The message's place among its author's messages of that second, so far. Seconds
        more than `_ORDINALS_HORIZON` older than the newest seen are forgotten once more than
        `_ORDINALS_KEPT` are remembered (exports run in time order, give or take a clock
        change), so memory stays bounded."""
        if self.newest is None or sent_at > self.newest:
            self.newest = sent_at
        if len(self.ordinals) > self.ordinals_kept:
            horizon = self.newest - _ORDINALS_HORIZON
            self.ordinals = Counter({k: n for k, n in self.ordinals.items() if k[0] >= horizon})
            self.ordinals_kept = max(_ORDINALS_KEPT, 2 * len(self.ordinals))
        ordinal = self.ordinals[(sent_at, author)]
        self.ordinals[(sent_at, author)] = ordinal + 1
        return ordinal


def contact_of(author: str, chat_name: str, region: str | None = None) -> ContactRef:
    """The contact of an export's author: by phone number when the name is one (read in
    `region` when it has no country code), else a person known by name in this chat."""
    digits = phone_digits(author, region)
    if digits is not None:
        return ContactRef(wa_id=f"{digits}@c.us", phone=digits)
    return ContactRef(wa_id=f"{_hash(chat_name + '|' + author)[:20]}@{EXPORT_SERVER}", name=author)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
