"""An import's progress, as every engine reports it (plain data: it also crosses Temporal).

Counts are the job's, whichever run reports them: a resumed or retried run starts with the
chats done before it (`chats_before`) and plans those plus the chats it lists
(`chats_planned`), so `chats_done` never exceeds the plan, on a first run, a resume, a retry
or on Temporal alike.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass


@dataclass
class ImportProgress:
    """What an import has done so far (the CLI draws it, the API streams it, a Temporal
    workflow answers it to the `progress` query)."""

    chats_seen: int = 0
    """Chats this run has listed so far (chats done before it are not listed again)."""
    chats_listed: bool = False
    """Whether this run's listing ended (`chats_seen` is then final)."""
    chats_done: int = 0
    """Chats of the job done, those done before this run included."""
    chats_failed: int = 0
    """Chats that failed in this run."""
    messages: int = 0
    created: int = 0
    fetched: int = 0
    """Messages read from WAHA, written or not yet."""
    chats_before: int = 0
    """Chats the job had done when this run began (a resumed or retried job)."""
    chats_expected: int | None = None
    """Chats this run imports, when known before its listing ends (a retry's failed chats,
    the chats chosen with `--chat`); None: as many as the listing finds."""


def at_start(done: Collection[str], only: Collection[str] | None = None) -> ImportProgress:
    """The progress of a run about to begin over a job that has `done` chats, importing
    `only` those chats (a retry, `--chat`) or, with None, every chat not done yet."""
    expected = None if only is None else len(set(only) - set(done))
    return ImportProgress(chats_done=len(done), chats_before=len(done), chats_expected=expected)


@dataclass(frozen=True)
class ProgressRates:
    """How far and how fast a run goes: what a progress bar shows beside the counts."""

    chats_planned: int
    """Chats the job covers: done before this run, plus those this run imports."""
    chats_planned_estimated: bool
    """True while `chats_planned` is a lower bound: this run's listing has not ended and
    nothing told how many chats it would find."""
    percent: float | None
    """Chats finished (done or failed) of those planned, 0-100 (an estimate while
    `chats_planned_estimated`); None while nothing is planned yet."""
    messages_per_second: float
    """Messages written (new or duplicate) per second, as the CLI's bar shows."""
    eta_seconds: float | None
    """Time left at this run's pace of chats (an estimate while `chats_planned_estimated`);
    None until a chat finished in this run."""


def planned(progress: ImportProgress) -> tuple[int, bool]:
    """The chats the job covers as far as `progress` knows, and whether that is an estimate."""
    if progress.chats_listed:
        return progress.chats_before + progress.chats_seen, False
    expected = progress.chats_expected
    if expected is not None:
        return progress.chats_before + max(expected, progress.chats_seen), False
    return progress.chats_before + progress.chats_seen, True


def rates(progress: ImportProgress, elapsed_seconds: float) -> ProgressRates:
    """`progress` after `elapsed_seconds` of a run: its pace counts only what this run did."""
    total, estimated = planned(progress)
    finished = progress.chats_done + progress.chats_failed
    total = max(total, finished)
    percent = None
    if total:
        percent = min(100.0, 100.0 * finished / total)
    elif not estimated:
        percent = 100.0  # nothing to import
    speed = progress.messages / elapsed_seconds if elapsed_seconds > 0 else 0.0
    eta = None
    finished_here = finished - progress.chats_before
    if finished_here > 0 and elapsed_seconds > 0:
        eta = max(0, total - finished) * elapsed_seconds / finished_here
    return ProgressRates(
        chats_planned=total,
        chats_planned_estimated=estimated,
        percent=percent,
        messages_per_second=speed,
        eta_seconds=eta,
    )


RequestSeen = tuple[str, str, float]
"""A WAHA request as the metrics see it: (endpoint, outcome, seconds); outcome is `ok`, an
HTTP status (`401`, `503`…) or an exception's name (`ClientConnectorError`, `TimeoutError`)."""


def _ignore(*args: object) -> None:
    return None


@dataclass(frozen=True)
class ImportObserver:
    """What an import tells the process's metrics (`api/metrics.py`); every hook is a no-op
    unless metrics are served. Called from any thread."""

    requests: Callable[[Sequence[RequestSeen]], None] = _ignore
    """WAHA requests made (by the fetch processes or this one)."""
    chunk: Callable[[int, float], None] = _ignore
    """A chunk committed: its messages and the seconds its transaction took."""
    progress: Callable[[str, ImportProgress | None], None] = _ignore
    """A job's progress (by job id) as it changes; None once its run here ended."""
