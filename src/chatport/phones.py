"""Phone numbers as people write them -> the digits of WhatsApp's ids (`<digits>@c.us`), read
by the phonenumbers library (libphonenumber's metadata: trunk prefixes, carrier codes,
international call prefixes, lengths).

A number written with its country code (`+55 11 98765-4321`, `0055 11 98765-4321`) reads
anywhere. One written as people dial it at home (`(011) 98765-4321`, `11 98765-4321`) needs the
region it was written in (`CHATPORT_DEFAULT_REGION`, `--region`): without one it is not
guessed. A number no country could have (too short, too long) is no number.
"""

from __future__ import annotations

import re

import phonenumbers

MIN_DIGITS = 7
"""Fewer digits than this is no phone number (a name such as `Agent 007`)."""

_SHAPE = re.compile(r"^\+?[\d\s().\-\u00a0\u202f\u2010-\u2015\u2212]+$")
"""Digits with spaces (no-break ones too), brackets, dots and dashes (iOS writes U+2011)."""


def looks_like_phone(text: str) -> bool:
    """Whether `text` is written like a phone number: digits, at least MIN_DIGITS, with at
    most a leading `+` and spaces, dots, dashes and brackets between them."""
    text = text.strip()
    return bool(_SHAPE.match(text)) and sum(char.isdigit() for char in text) >= MIN_DIGITS


def is_national(text: str) -> bool:
    """Whether `text` looks like a phone number written without its country code (no `+`,
    no `00`): which country's it is depends on a region."""
    return looks_like_phone(text) and not _international(text.strip())


def phone_digits(text: str, region: str | None) -> str | None:
    """The digits of the number `text` (country code first, no `+`), read in `region` (a
    two-letter code) when it has no country code; None when it is no possible number, or is
    national and `region` is None."""
    text = text.strip()
    if not looks_like_phone(text):
        return None
    if _international(text) and not text.startswith("+"):
        text = "+" + re.sub(r"\D", "", text)[2:]
    elif not text.startswith("+") and region is None:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def region_code(value: str) -> str:
    """`value` as a region code phonenumbers knows (`br` -> `BR`); ValueError otherwise."""
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"not a region code: {value!r} (two letters, e.g. BR, US, DE)")
    return code


def _international(text: str) -> bool:
    return text.startswith("+") or re.sub(r"\D", "", text).startswith("00")
