"""`sources/edge_json.py` and `api/cursors.py`: what comes from outside is refused with a
reason (UnsafeJson, a 400) or accepted whole, never an other error; the fast path that skips
the walk never lets a bad document through."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st

from chatport.api import cursors
from chatport.sources import edge_json

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**40])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.sampled_from(["\x00", "a\x00", "\ud800", "😀"])
)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def broken(value) -> bool:
    """Whether `value` breaks a rule (the slow, obvious way)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**63
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return any((isinstance(k, str) and "\x00" in k) or broken(v) for k, v in items)


@settings(max_examples=300, derandomize=True, database=None)
@given(document=documents, ascii_only=st.booleans())
def test_a_document_is_refused_exactly_when_it_breaks_a_rule(document, ascii_only) -> None:
    data = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        edge_json.decode(data)
    except edge_json.UnsafeJson as unsafe:
        assert unsafe.status in (400, 422) and unsafe.reason
        refused = True
    else:
        refused = False
    assert refused == (broken(document) or surrogate(document) or abs_huge(document))


def surrogate(value) -> bool:
    """Whether a string of `value` has a lone surrogate (not UTF-8, not valid JSON text)."""
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(surrogate(k) or surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(surrogate(v) for v in value)
    return False


def abs_huge(value) -> bool:
    """An integer msgspec cannot read at all (beyond 64 bits and beyond a float)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) >= 10**40
    if isinstance(value, dict):
        return any(abs_huge(v) for v in value.values())
    if isinstance(value, list):
        return any(abs_huge(v) for v in value)
    return False


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (nested(64), None),
        (nested(65), 400),
        (nested(5_000), 400),
        (b'{"a": "\\u0000"}', 422),
        (b'{"\\u0000": 1}', 422),
        (b'{"a": 9223372036854775808}', 422),
        (b'{"a": -9223372036854775809}', 422),
        (b'{"a": 9223372036854775807}', None),
        (b'{"a": "\xff"}', 400),
        (b'{"a": "\\ud800"}', 400),
        (b'{"a": "\\\\u0000"}', None),  # an escaped backslash, then text: no NUL
        (b'{"a": 1', 400),
    ],
)
def test_each_rule(data: bytes, status: int | None) -> None:
    if status is None:
        edge_json.decode(data)
    else:
        with pytest.raises(edge_json.UnsafeJson) as refused:
            edge_json.decode(data)
        assert refused.value.status == status


@settings(max_examples=300, derandomize=True, database=None)
@given(cursor=st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.hex()))
def test_any_cursor_is_a_page_or_a_400(cursor: str) -> None:
    for decode in (cursors.decode_time_and_id, cursors.decode_id):
        try:
            decode(cursor)
        except HTTPException as refused:
            assert refused.status_code == 400


@settings(max_examples=200, derandomize=True, database=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29), timezones=st.just(UTC)
    ),
    row_id=st.integers(1, 2**63 - 1),
)
def test_cursors_made_by_encode_come_back(moment: datetime, row_id: int) -> None:
    assert cursors.decode_time_and_id(cursors.encode(moment, row_id)) == (moment, row_id)
    assert cursors.decode_id(str(row_id)) == row_id
