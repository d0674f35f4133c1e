"""The burst rules with a fake clock: quiet window, max wait, human takeover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chatport.domain.bursts import BurstRules, BurstStatus, OpenBurst, closing, due_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = BurstRules(quiet=timedelta(seconds=3), max_wait=timedelta(seconds=20))


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_burst_closes_after_the_quiet_window_and_not_before() -> None:
    burst = OpenBurst(opened_at=s(0), last_at=s(1))
    assert closing(burst, RULES, s(3.999)) is None
    assert closing(burst, RULES, s(4)) is BurstStatus.CLOSED


def test_bubbles_that_keep_coming_are_cut_at_the_max_wait() -> None:
    burst = OpenBurst(opened_at=s(0), last_at=s(19.5))
    assert due_at(burst, RULES) == s(20)
    assert closing(burst, RULES, s(19.9)) is None
    assert closing(burst, RULES, s(20)) is BurstStatus.CLOSED


def test_a_human_answering_from_the_phone_takes_over_unless_turned_off() -> None:
    burst = OpenBurst(opened_at=s(0), last_at=s(1), taken_over=True)
    assert closing(burst, RULES, s(1.5)) is BurstStatus.TAKEN_OVER
    keep = BurstRules(RULES.quiet, RULES.max_wait, takeover=False)
    assert closing(burst, keep, s(1.5)) is None
    assert closing(burst, keep, s(4)) is BurstStatus.CLOSED


def test_a_channel_overrides_the_windows_it_sets() -> None:
    rules = BurstRules.of(500, None, RULES)
    assert (rules.quiet, rules.max_wait) == (timedelta(milliseconds=500), RULES.max_wait)


@given(
    gaps=st.lists(st.integers(0, 10_000), min_size=1, max_size=30),
    now=st.integers(0, 400_000),
)
def test_an_open_burst_never_outlives_either_window(gaps, now) -> None:
    """Times in milliseconds: open exactly while within both windows."""
    last = sum(gaps)
    burst = OpenBurst(opened_at=s(0), last_at=s(last / 1000))
    open_at_now = closing(burst, RULES, s(now / 1000)) is None
    assert open_at_now == (now < min(last + 3_000, 20_000))
