"""Bursts: a contact's run of inbound bubbles ("Hi" / "I want" / "to order") answered once.

Per (channel, chat), a live inbound message opens a burst or extends the open one. A burst
closes when no inbound message came for the quiet window, or when it is older than the max
wait, whichever comes first; a closed burst becomes ONE agent job holding its messages in
order. A message from the phone (`fromMe`, not sent by chatport) while a burst is open means a
human took over: the burst closes without a job (when takeover is on). History (imports,
exports) never opens a burst. Pure: the store records the facts, these rules decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BurstStatus(StrEnum):
    """A burst's state in `bursts.status`."""

    OPEN = "open"
    CLOSED = "closed"
    """Closed into an agent job."""
    TAKEN_OVER = "taken_over"
    """Closed without a job: someone answered from the phone."""


@dataclass(frozen=True, slots=True)
class BurstRules:
    """How long to wait for more bubbles (`quiet`), at most how long a burst stays open
    (`max_wait`), and whether a human answering from the phone cancels it (`takeover`)."""

    quiet: timedelta = timedelta(seconds=3)
    max_wait: timedelta = timedelta(seconds=20)
    takeover: bool = True

    @classmethod
    def of(cls, quiet_ms: int | None, max_wait_ms: int | None, defaults: BurstRules) -> BurstRules:
        """A channel's rules: its own windows where it has them, else `defaults`."""
        return cls(
            quiet=timedelta(milliseconds=quiet_ms) if quiet_ms else defaults.quiet,
            max_wait=timedelta(milliseconds=max_wait_ms) if max_wait_ms else defaults.max_wait,
            takeover=defaults.takeover,
        )


@dataclass(frozen=True, slots=True)
class OpenBurst:
    """What the store knows of an open burst: when its first and latest inbound messages
    arrived, and whether a message from the phone came meanwhile."""

    opened_at: datetime
    last_at: datetime
    taken_over: bool = False


def due_at(burst: OpenBurst, rules: BurstRules) -> datetime:
    """When the burst closes if nothing else arrives."""
    return min(burst.last_at + rules.quiet, burst.opened_at + rules.max_wait)


def closing(burst: OpenBurst, rules: BurstRules, now: datetime) -> BurstStatus | None:
    """How the burst closes at `now` (`TAKEN_OVER` at once when a human answered and takeover
    is on; `CLOSED` once due), or None while it stays open."""
    if burst.taken_over and rules.takeover:
        return BurstStatus.TAKEN_OVER
    if now >= due_at(burst, rules):
        return BurstStatus.CLOSED
    return None
