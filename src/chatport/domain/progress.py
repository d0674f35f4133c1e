"""An import's progress, as every engine reports it (plain data: it also crosses Temporal)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImportProgress:
    """What an import has done so far (the CLI draws it, the API streams it, a Temporal
    workflow answers it to the `progress` query)."""

    chats_seen: int = 0
    chats_listed: bool = False
    chats_done: int = 0
    chats_failed: int = 0
    messages: int = 0
    created: int = 0
    fetched: int = 0
    """Messages read from WAHA, written or not yet."""


@dataclass(frozen=True)
class ProgressRates:
    """How fast a run goes: what a progress bar shows beside the counts."""

    percent: float | None
    """Chats finished (done or failed) of those listed, 0-100; None until the listing ends."""
    messages_per_second: float
    """Messages written (new or duplicate) per second, as the CLI's bar shows."""
    eta_seconds: float | None
    """Time left at this run's pace of chats; None until it is known (listing not ended, or
    no chat finished yet in this run)."""


def rates(
    progress: ImportProgress, elapsed_seconds: float, chats_done_at_start: int = 0
) -> ProgressRates:
    """`progress` after `elapsed_seconds` of a run that started with `chats_done_at_start`
    chats already done (a resumed job): its pace counts only what this run did."""
    finished = progress.chats_done + progress.chats_failed
    percent = None
    if progress.chats_listed:
        percent = (
            100.0
            if progress.chats_seen == 0
            else min(100.0, 100.0 * finished / progress.chats_seen)
        )
    speed = progress.messages / elapsed_seconds if elapsed_seconds > 0 else 0.0
    eta = None
    finished_here = finished - chats_done_at_start
    if progress.chats_listed and finished_here > 0 and elapsed_seconds > 0:
        eta = max(0, progress.chats_seen - finished) * elapsed_seconds / finished_here
    return ProgressRates(percent=percent, messages_per_second=speed, eta_seconds=eta)
