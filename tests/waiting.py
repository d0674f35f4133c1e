"""Waiting in tests for something to happen, not for time to pass.

A fixed sleep or a short deadline makes a test depend on how busy the machine is. Where no
event can be waited on, `eventually` polls a condition; its deadline only bounds a failure,
so it is generous (`PATIENCE`): a loaded machine is slow, not wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

PATIENCE = 60.0
"""Seconds a test waits for something that should happen at once."""


def eventually(
    condition: Callable[[], T], what: str, seconds: float = PATIENCE, every: float = 0.05
) -> T:
    """Call `condition()` until it returns something true, and return that; fail, saying
    that `what` did not happen, once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(every)
    return result


def goes_idle(loop) -> threading.Event:
    """An event set once a `WakingLoop` (not started yet) ends a round with nothing to do:
    from then on it sleeps until it is woken or its `idle_seconds` pass."""
    idle = threading.Event()
    work = loop._round

    def round_then_tell() -> float:
        wait = work()
        if wait >= loop.idle_seconds:
            idle.set()
        return wait

    loop._round = round_then_tell
    return idle
