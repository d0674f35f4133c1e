"""Normalisation rules for WhatsApp ids, timestamps and text. Pure functions.

JIDs:
    `5511999990000@s.whatsapp.net`, `5511999990000:12@s.whatsapp.net` (device suffix),
    `+55 11 99999-0000` and `5511999990000` all become `5511999990000@c.us`;
    groups (`@g.us`), LIDs (`@lid`), newsletters and broadcasts keep their form.
    A Brazilian mobile has two spellings, with and without its 9th digit (`phone_variants`).
Timestamps:
    epoch seconds, milliseconds or microseconds (int, float or digit string), ISO 8601
    strings and datetimes become an aware UTC datetime truncated to the second.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

USER_SERVER = "c.us"
EXPORT_SERVER = "export"
"""The server of people and chats known only by name, from an "Export chat" file."""
_USER_SERVER_ALIASES = {"s.whatsapp.net", "c.us"}
_KNOWN_SERVERS = {"c.us", "g.us", "lid", "newsletter", "broadcast", "call", EXPORT_SERVER}
_PHONE_CHARS = re.compile(r"[\s+().\-]")
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_FIRST_SECOND = 86_400
_FIRST_MILLISECOND = 100_000_000_000
MAX_JID_LENGTH = 128
"""The longest id of a chat or person (the stores' column size); WhatsApp's are far shorter."""
_MAX_PHONE_LENGTH = 32


class InvalidValue(ValueError):
    """A value that cannot be normalised; the message says why."""


def own_number(value: str | None) -> str | None:
    """The canonical JID of a session's own number (`me.id`, any form), None when unusable."""
    try:
        return normalise_jid(value) if value else None
    except InvalidValue:
        return None


def normalise_jid(value: str | None) -> str:
    """Return the canonical JID of a chat or person, or raise InvalidValue."""
    jid = _canonical_jid(value)
    if len(jid) > MAX_JID_LENGTH:
        raise InvalidValue(f"not a WhatsApp id (longer than {MAX_JID_LENGTH} characters)")
    return jid


def _canonical_jid(value: str | None) -> str:
    if value is None:
        raise InvalidValue("missing id")
    jid = value.strip()
    if not jid:
        raise InvalidValue("empty id")
    if "\x00" in jid:
        raise InvalidValue("not a WhatsApp id (a NUL character)")
    if "@" not in jid:
        digits = _PHONE_CHARS.sub("", jid)
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidValue(f"not a WhatsApp id: {value[:200]!r}")
        return f"{digits}@{USER_SERVER}"
    user, _, server = jid.rpartition("@")
    server = server.lower()
    if not user or server not in _KNOWN_SERVERS | _USER_SERVER_ALIASES:
        raise InvalidValue(f"not a WhatsApp id: {value[:200]!r}")
    if server in _USER_SERVER_ALIASES:
        user = user.split(":", 1)[0]
        return f"{user}@{USER_SERVER}"
    if server == "lid":
        user = user.split(":", 1)[0]
    return f"{user}@{server}"


def is_group(jid: str) -> bool:
    """True for a group chat JID."""
    return jid.endswith("@g.us")


def is_lid(jid: str) -> bool:
    """True for a WhatsApp LID (a privacy id that hides the phone number)."""
    return jid.endswith("@lid")


def phone_of(jid: str) -> str | None:
    """The phone digits of a user JID, or None for groups, LIDs and others."""
    if jid.endswith("@" + USER_SERVER):
        phone = jid[: -len(USER_SERVER) - 1]
        return phone if len(phone) <= _MAX_PHONE_LENGTH else None
    return None


_BRAZIL_MOBILE = re.compile(r"^55([1-9]{2})(9?)([6-9]\d{7})$")


def phone_variants(phone: str) -> tuple[str, ...]:
    """The other spellings of one phone number that WhatsApp ids and people use: a Brazilian
    mobile with and without its 9th digit (`55 DD 9XXXXXXXX` / `55 DD XXXXXXXX`, X first 6-9:
    the ids of numbers older than the 9 lack it, people write it). Digits in, digits out."""
    match = _BRAZIL_MOBILE.match(phone)
    if match is None:
        return ()
    area, nine, number = match.groups()
    return (f"55{area}{number}",) if nine else (f"55{area}9{number}",)


def normalise_timestamp(value: datetime | int | float | str | None) -> datetime:
    """Return an aware UTC datetime in whole seconds, or raise InvalidValue.

    Numbers above 1e14 are microseconds, above 1e11 milliseconds, else seconds.
    A naive datetime or ISO string is taken as UTC.
    """
    if type(value) is int and _FIRST_SECOND <= value < _FIRST_MILLISECOND:
        return datetime.fromtimestamp(value, UTC)
    if value is None or value == "":
        raise InvalidValue("missing timestamp")
    if isinstance(value, bool):
        raise InvalidValue(f"bad timestamp: {value!r}")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)):
        moment = _from_epoch(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = _from_epoch(float(text))
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidValue(f"bad timestamp: {value!r}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    else:
        raise InvalidValue(f"bad timestamp: {value!r}")
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise InvalidValue(f"timestamp out of range: {value!r}") from None
    if not _EARLIEST <= moment < _LATEST:
        raise InvalidValue(f"timestamp out of range: {value!r}")
    return moment


def _from_epoch(number: float) -> datetime:
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidValue(f"bad timestamp: {number!r}")
    if number > 1e14:
        number /= 1_000_000
    elif number >= _FIRST_MILLISECOND:
        number /= 1000
    try:
        return datetime.fromtimestamp(int(number), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidValue(f"timestamp out of range: {number!r}") from None


def clean_text(text: str | None) -> str | None:
    """Text safe for every store: NUL becomes U+FFFD, lone surrogates become U+FFFD.

    Emoji ZWJ sequences, RTL text and every other valid code point are kept as given.
    """
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if text.isascii():  # no surrogates, and no copy to find that out
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
