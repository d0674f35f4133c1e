"""Phone numbers as people write them: parsed by phonenumbers with a default region, and the
Brazilian mobile 9th digit (WhatsApp's ids of older numbers lack it, people write it)."""

from __future__ import annotations

import pytest

from chatport.domain.batch import prepare_batch
from chatport.domain.model import ContactRef, IncomingMessage
from chatport.domain.normalise import phone_variants
from chatport.domain.spellings import other_spellings, respelled
from chatport.phones import is_national, phone_digits, region_code


@pytest.mark.parametrize(
    ("written", "region", "digits"),
    [
        ("+55 11 98765-4321", None, "5511987654321"),
        ("+55 11 98765-4321", "DE", "5511987654321"),  # a country code wins over the region
        ("0055 11 98765-4321", None, "5511987654321"),
        ("(011) 98765-4321", "BR", "5511987654321"),  # the trunk prefix 0 is no digit of it
        ("11 98765-4321", "BR", "5511987654321"),
        ("015 11 98765-4321", "BR", "5511987654321"),  # a carrier code too
        ("5511987654321", "BR", "5511987654321"),
        ("+55 11 8765-4321", None, "551187654321"),  # an older id: possible, kept as it is
        ("030 1234567", "DE", "49301234567"),
        ("+39 06 1234 5678", None, "390612345678"),  # Italy keeps its leading zero
        ("(415) 555-2671", "US", "14155552671"),
        ("+55\u00a011\u00a098765\u20114321", None, "5511987654321"),  # as iOS writes it
    ],
)
def test_numbers_parse_to_whatsapps_digits(written: str, region: str | None, digits: str) -> None:
    assert phone_digits(written, region) == digits


@pytest.mark.parametrize(
    ("written", "region"),
    [
        ("(011) 98765-4321", None),  # national, and no region to read it in: not guessed
        ("11 98765-4321", None),
        ("1234567", "BR"),  # too short for Brazil
        ("Ana Maria", "BR"),
        ("Ana 98765-4321", "BR"),
        ("+55", None),
        ("", None),
    ],
)
def test_what_is_no_number_gives_none(written: str, region: str | None) -> None:
    assert phone_digits(written, region) is None


def test_national_numbers_are_told_from_international_ones_and_names() -> None:
    assert is_national("(011) 98765-4321") and is_national("5511987654321")
    assert not is_national("+55 11 98765-4321") and not is_national("0055 11 98765-4321")
    assert not is_national("Ana") and not is_national("123")  # too short to be a number


def test_regions_are_checked_and_upper_cased() -> None:
    assert region_code("br") == "BR" and region_code(" US ") == "US"
    with pytest.raises(ValueError, match="not a region"):
        region_code("XX")
    with pytest.raises(ValueError, match="not a region"):
        region_code("Brazil")


@pytest.mark.parametrize(
    ("phone", "variants"),
    [
        ("5511987654321", ("551187654321",)),  # with the 9th digit -> without
        ("551187654321", ("5511987654321",)),  # without -> with
        ("558191234567", ("5581991234567",)),
        ("551133334444", ()),  # a landline (2-5 first): no 9th digit
        ("5511912345678", ()),  # 9 then 1: no older 8-digit mobile had that
        ("14155552671", ()),  # not Brazil
        ("5501987654321", ()),  # no area code 01
        ("55119876543210", ()),  # too long
    ],
)
def test_brazilian_mobiles_have_a_variant_with_or_without_the_9(phone, variants) -> None:
    assert phone_variants(phone) == variants


def test_a_batch_is_respelled_to_the_stored_ids() -> None:
    mine = "5511987654321@c.us"
    incoming = [
        IncomingMessage("m1", mine, 1_700_000_000, author=ContactRef(mine, name="Ana")),
        IncomingMessage("m2", mine, 1_700_000_060, from_me=True),
        IncomingMessage("m3", "120363@g.us", 1_700_000_120, author=ContactRef(mine)),
    ]
    batch = prepare_batch(incoming)
    assert other_spellings(batch) == {mine: ("551187654321@c.us",)}
    moved = respelled(batch, {mine: "551187654321@c.us"})
    assert [m.chat_id for m in moved.messages] == ["551187654321@c.us"] * 2 + ["120363@g.us"]
    assert moved.messages[0].author == ContactRef("551187654321@c.us", "551187654321", None, "Ana")
    assert moved.messages[2].author.wa_id == "551187654321@c.us"
    assert list(moved.contacts) == ["551187654321@c.us"]
    assert moved.chats["551187654321@c.us"].counterpart.name == "Ana"
    assert set(moved.chats) == {"551187654321@c.us", "120363@g.us"}
    assert respelled(batch, {}) is batch
