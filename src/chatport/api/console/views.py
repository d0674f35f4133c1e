"""What the console's pages show, computed from rows: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chatport.domain.normalise import phone_variants
from chatport.phones import phone_digits

_MEDIA = {
    "image": "Photo",
    "video": "Video",
    "audio": "Audio",
    "voice": "Voice message",
    "document": "Document",
    "sticker": "Sticker",
    "location": "Location",
    "contact": "Contact card",
    "poll": "Poll",
    "media": "Attachment",
}


TEXT_SHOWN = 65_536
"""The most of a message's text a page shows (a longer one ends with a "truncated" note)."""


def shown_text(text: str | None) -> str:
    """The part of `text` a page shows: its first `TEXT_SHOWN` characters."""
    return (text or "")[:TEXT_SHOWN]


def truncated(text: str | None) -> bool:
    """Whether a page shows only part of `text`."""
    return text is not None and len(text) > TEXT_SHOWN


@dataclass
class SessionGroup:
    """Consecutive messages of one conversation session, as a conversation shows them."""

    session: Any | None
    """The `sessions` row (None when the message has none)."""
    messages: list[Any] = field(default_factory=list)
    gap_before: timedelta | None = None
    """Silence between the previous group's last message and this group's first."""


def group_by_session(messages: Iterable[Any], sessions: dict[Any, Any]) -> list[SessionGroup]:
    """`messages` (oldest first) cut where their `session_id` changes."""
    groups: list[SessionGroup] = []
    for message in messages:
        current = groups[-1] if groups else None
        if current is None or current.messages[-1].session_id != message.session_id:
            gap = message.sent_at - current.messages[-1].sent_at if current else None
            current = SessionGroup(sessions.get(message.session_id), gap_before=gap)
            groups.append(current)
        current.messages.append(message)
    return groups


def media_label(content_type: str) -> str | None:
    """What a placeholder calls a message's media (None for text and system messages)."""
    return _MEDIA.get(content_type)


def person(wa_id: str | None, name: str | None = None) -> str:
    """A name for a WhatsApp id: the name when known, else `+<digits>` for a phone JID."""
    if name:
        return name
    if not wa_id:
        return ""
    user, _, server = wa_id.partition("@")
    return f"+{user}" if server == "c.us" and user.isdigit() else wa_id


def web_link(url: str | None) -> str | None:
    """`url` when it is an http(s) address a page may link to (a payload's `javascript:` or
    `file:` URL is never a link)."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


def when(moment: datetime | None) -> str:
    """`2026-11-30 14:03 UTC` (pages turn it into the reader's time with JavaScript)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def duration(seconds: float | timedelta | None) -> str:
    """`2 d 3 h`, `4 h 5 min`, `3 min 20 s`, `12 s`."""
    if seconds is None:
        return "—"
    total = int(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)
    days, rest = divmod(max(total, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def size(count: int | None) -> str:
    """Bytes as `512 B`, `1.5 KB`, `12.0 MB`."""
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def search_terms(query: str, region: str | None = None) -> tuple[str, tuple[str, ...]]:
    """(text, numbers) of a chat search: a name matches the text, a chat id any of the
    numbers: the query's digits (so `+55 (11) 9999` finds `5511 9999…@c.us`), and when the
    query is a phone number (read in `region` when it has no country code) its international
    digits and their other spelling (a Brazilian mobile with or without its 9th digit);
    without a region, digits typed after a leading 0 (a trunk prefix) too."""
    text = query.strip()
    digits = "".join(char for char in text if char.isascii() and char.isdigit())
    numbers = [digits] if digits else []
    phone = phone_digits(text, region)
    if phone is not None:
        numbers += [phone, *phone_variants(phone)]
    elif digits.startswith("0") and digits.strip("0"):
        numbers.append(digits.lstrip("0"))
    return text, tuple(dict.fromkeys(numbers))
