"""The bulk paths' SQLite timestamp text is exactly what SQLAlchemy writes for the column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from chatport.store.column_types import SQLITE_DATETIME_FORMAT, sqlite_datetime

moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.none()
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(moments, st.booleans())
def test_utc_and_naive_datetimes_read_as_sqlalchemy_writes_them(
    moment: datetime, whole: bool
) -> None:
    if whole:
        moment = moment.replace(microsecond=0)
    expected = moment.strftime(SQLITE_DATETIME_FORMAT)
    assert sqlite_datetime(moment) == expected
    assert sqlite_datetime(moment.replace(tzinfo=UTC)) == expected


@given(moments, offsets)
def test_other_offsets_are_written_as_their_utc_moment(moment: datetime, zone: timezone) -> None:
    aware = moment.replace(tzinfo=zone)
    assert sqlite_datetime(aware) == aware.astimezone(UTC).strftime(SQLITE_DATETIME_FORMAT)
