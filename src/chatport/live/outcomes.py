"""What became of one webhook delivery: its `Outcome`, and the `Result` the live writer gives
(the API answers with it; the writer process sends it back over its pipe)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What became of one delivery."""

    STORED = "stored"
    """Its effect is committed (a message already stored counts too: it is there)."""
    DUPLICATE = "duplicate"
    """Its envelope was handled before (WAHA retried it)."""
    IGNORED = "ignored"
    """An event chatport does not act on; acknowledged so WAHA stops retrying."""
    INVALID = "invalid"
    """Refused with a reason, kept in `dead_letters`."""
    MISSING = "missing"
    """A change to a message not stored (yet): not acted on, so WAHA's retry can be."""


@dataclass(frozen=True)
class Result:
    """A delivery's outcome, with the reason when it was refused."""

    outcome: Outcome
    reason: str | None = None
