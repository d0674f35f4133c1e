"""JIDs, timestamps and text: the normalisation rules, and that no input crashes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatport.domain.normalise import (
    InvalidValue,
    clean_text,
    normalise_jid,
    normalise_timestamp,
    phone_of,
)

MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
EPOCH = int(MOMENT.timestamp())


@pytest.mark.parametrize(
    ("given_id", "expected"),
    [
        ("5511999990000@s.whatsapp.net", "5511999990000@c.us"),
        ("5511999990000:12@s.whatsapp.net", "5511999990000@c.us"),
        ("5511999990000@C.US", "5511999990000@c.us"),
        ("+55 (11) 99999-0000", "5511999990000@c.us"),
        ("5511999990000", "5511999990000@c.us"),
        ("120363000000000001@g.us", "120363000000000001@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
        ("123456789012345:3@lid", "123456789012345@lid"),
        ("status@broadcast", "status@broadcast"),
        ("1203630000@newsletter", "1203630000@newsletter"),
    ],
)
def test_jids(given_id: str, expected: str) -> None:
    assert normalise_jid(given_id) == expected


@pytest.mark.parametrize(
    "bad", [None, "", "   ", "hello world", "@c.us", "x@example.com", "12ab@", "²", "٣٤"]
)
def test_bad_jids_are_refused(bad) -> None:
    with pytest.raises(InvalidValue):
        normalise_jid(bad)


def test_phone_only_for_user_jids() -> None:
    assert phone_of("5511999990000@c.us") == "5511999990000"
    assert phone_of("120363@g.us") is None and phone_of("123@lid") is None


@pytest.mark.parametrize(
    "value",
    [
        EPOCH,
        EPOCH * 1000,
        EPOCH * 1000 + 999,
        EPOCH * 1_000_000,
        float(EPOCH) + 0.75,
        str(EPOCH),
        str(EPOCH * 1000),
        "2024-05-06T07:08:09Z",
        "2024-05-06T04:08:09-03:00",
        "2024-05-06 07:08:09",
        MOMENT.replace(tzinfo=None),
        MOMENT.astimezone(timezone(timedelta(hours=5, minutes=30))),
        MOMENT.replace(microsecond=123456),
    ],
)
def test_timestamps_become_utc_seconds(value) -> None:
    assert normalise_timestamp(value) == MOMENT


@pytest.mark.parametrize("bad", [None, "", "yesterday", True, -5, 0, float("nan"), 10**30, [1]])
def test_bad_timestamps_are_refused(bad) -> None:
    with pytest.raises(InvalidValue):
        normalise_timestamp(bad)


def test_text_keeps_every_valid_character_and_replaces_nul_and_lone_surrogates() -> None:
    family = "👩‍👩‍👧‍👦 مرحبا e\u0301"
    assert clean_text(family) == family
    assert clean_text("a\x00b") == "a\ufffdb"
    assert "\ud800" not in clean_text("x\ud800y")
    assert clean_text(None) is None


@given(st.text())
def test_any_text_as_a_jid_either_normalises_or_is_refused(text: str) -> None:
    try:
        jid = normalise_jid(text)
    except InvalidValue:
        return
    assert "@" in jid and normalise_jid(jid) == jid


@given(st.one_of(st.text(), st.integers(), st.floats(), st.datetimes(), st.none(), st.booleans()))
def test_any_value_as_a_timestamp_either_normalises_or_is_refused(value) -> None:
    try:
        moment = normalise_timestamp(value)
    except InvalidValue:
        return
    assert moment.tzinfo is UTC and moment.microsecond == 0


@given(st.text())
def test_clean_text_is_always_encodable(text: str) -> None:
    cleaned = clean_text(text)
    cleaned.encode("utf-8")
    assert "\x00" not in cleaned
