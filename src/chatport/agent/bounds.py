"""A deliverer's bounds: how many deliveries are under way, by kind and by channel.

A job holds a slot of its channel while its agent is asked (`CHATPORT_AGENT_CONCURRENCY` of
them at once, `CHATPORT_AGENT_CHANNEL_CONCURRENCY` of one channel): that is what a hanging
agent would hold. A send (a reply's, or one due again) holds a send slot, as many of them
apart: a WAHA that does not answer holds its channel's send slots, never its jobs'. Storing a
reply holds neither, only a place among the deliveries in flight, at most twice
`concurrency` in all. Used from the deliverer's event loop only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

JOB, SEND = "job", "send"
"""What a delivery is about: an agent job, or an outbound message whose send is due again."""


class Bounds:
    """The slots under way by kind (JOB, SEND) and channel; `on_free()` when one is freed."""

    def __init__(self, concurrency: int, per_channel: int, on_free: Callable[[], None]) -> None:
        self.concurrency = concurrency
        self.per_channel = per_channel
        self._on_free = on_free
        self.busy: dict[str, Counter[int]] = {JOB: Counter(), SEND: Counter()}

    def rooms(self, in_flight: int) -> tuple[int, int, int]:
        """How many more jobs, and sends, may be under way now, and both together (with
        `in_flight` deliveries under way)."""
        busy = self.busy
        return (
            self.concurrency - sum(busy[JOB].values()),
            self.concurrency - sum(busy[SEND].values()),
            2 * self.concurrency - in_flight,
        )

    def full(self, kind: str) -> list[int]:
        """The channels whose slots of `kind` are all taken."""
        return [channel for channel, count in self.busy[kind].items() if count >= self.per_channel]

    def take(self, kind: str, channel_id: int) -> None:
        """Take a slot of `kind` (the claim saw to the bounds)."""
        self.busy[kind][channel_id] += 1

    def take_send(self, channel_id: int) -> bool:
        """Take a send slot of the channel if one is free (a reply about to be stored)."""
        sending = self.busy[SEND]
        if sending[channel_id] >= self.per_channel or sum(sending.values()) >= self.concurrency:
            return False
        sending[channel_id] += 1
        return True

    def free(self, kind: str, channel_id: int) -> None:
        """A slot is free: the deliverer may claim more."""
        busy = self.busy[kind]
        busy[channel_id] -= 1
        if busy[channel_id] <= 0:
            del busy[channel_id]
        self._on_free()
