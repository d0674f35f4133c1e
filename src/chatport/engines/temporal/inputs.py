"""What crosses Temporal: the workflow's and the activities' inputs and results (one
dataclass in, one out, so fields can be added later without breaking running workflows).
Plain data only: this module is imported into the workflow sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatport.domain.progress import ImportProgress

PREPARE, LIST_CHATS, IMPORT_CHATS, FAIL_CHATS, FINISH = (
    "chatport.prepare",
    "chatport.list_chats",
    "chatport.import_chats",
    "chatport.fail_chats",
    "chatport.finish",
)
"""Activity names (the workflow calls activities by name, so it imports none of their I/O)."""

FATAL_ERRORS = [
    "WahaAuthError",
    "WahaSessionNotReady",
    "ConfigurationError",
    "NotFoundError",
    "JobTakenOver",
    "JobCancelled",
]
"""Errors no retry can mend: the job fails with them (auth, session, configuration),
belongs to another run now, or was cancelled (its workflow ends `cancelled`)."""


@dataclass
class Retries:
    """The activities' retry policy: exponential backoff (Temporal adds no jitter; the
    WAHA client's own retries do)."""

    initial_seconds: float = 1.0
    backoff: float = 2.0
    maximum_seconds: float = 60.0
    attempts: int = 5


@dataclass
class ImportInput:
    """One run of an import job on Temporal (`owner`: the job's lease token for this run)."""

    job_id: str
    owner: str
    only_chats: list[str] | None = None
    chats_per_activity: int = 1_000
    max_parallel: int = 2
    list_page: int = 500
    heartbeat_seconds: float = 60.0
    seconds_per_chat: float = 30.0
    """A chunk activity's start-to-close timeout: 5 minutes plus this much per chat (the
    heartbeat timeout notices a dead worker long before)."""
    retries: Retries = field(default_factory=Retries)
    history_limit: int = 20_000
    """Continue as new once the history has this many events (or Temporal suggests it)."""
    offset: int = 0
    prepared: bool = False
    progress: ImportProgress = field(default_factory=ImportProgress)


@dataclass
class JobRef:
    """A job and the run's lease token."""

    job_id: str
    owner: str


@dataclass
class ChatRef:
    """A chat as listed by WAHA."""

    id: str
    name: str | None = None
    last_timestamp: int | None = None


@dataclass
class ListInput:
    """A page of the channel's chats to plan: from `offset`, at most `limit`."""

    job: JobRef
    offset: int
    limit: int
    only_chats: list[str] | None = None


@dataclass
class ChatPage:
    """Chats still to import (done ones left out) and where the next page starts."""

    chats: list[ChatRef]
    next_offset: int
    complete: bool


@dataclass
class ChunkInput:
    """One chunk activity: these chats, fetched and written by the chunk step."""

    job: JobRef
    chats: list[ChatRef]
    parallel: int = 1
    """Chunk activities of this import running at once: each takes that share of the job's
    fetch processes and concurrency, so the import fetches as much at once as in-process."""


@dataclass
class ChunkReport:
    """What a chunk activity (or a signal during it) adds to the job's progress."""

    messages: int = 0
    created: int = 0
    chats_done: int = 0
    chats_failed: int = 0


@dataclass
class FailInput:
    """Chats to record as failed with `error` (a chunk that ran out of retries)."""

    job: JobRef
    chat_ids: list[str]
    error: str


@dataclass
class FinishInput:
    """The job's end: `status` None to derive it (completed / failed_chats)."""

    job: JobRef
    status: str | None = None
    error: str | None = None


@dataclass
class JobOutcome:
    """The job as finished: status, error and counters."""

    status: str
    error: str | None
    counters: dict[str, int]


BEGIN_CATCH_UP = "chatport.begin_catch_up"
"""The catch-up workflow's activity: create the channel's catch-up job (`ingest.catch_up`)."""


@dataclass
class CatchUpInput:
    """A channel's catch-up workflow: one catch-up, then another if a trigger came after the
    first began. `job` is the import workflow's input for the catch-up job (its `job_id` and
    `owner` are filled in once the job exists)."""

    channel_id: int
    overlap_seconds: float
    job: ImportInput


@dataclass
class BeginInput:
    """Create the channel's catch-up job, leased to a new Temporal token."""

    channel_id: int
    overlap_seconds: float


@dataclass
class Begun:
    """The catch-up job created (None: one another process runs was asked to run again) and
    the end of its window (epoch seconds)."""

    job_id: str | None
    owner: str | None
    until: float | None


@dataclass
class CatchUpOutcome:
    """How the catch-up the workflow ran (the last one) ended; `job_id` None: left to the
    catch-up another process runs."""

    job_id: str | None
    status: str
