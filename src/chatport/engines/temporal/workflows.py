"""The import workflow: prepare -> plan the chats page by page -> chunk activities in
parallel (at most `max_parallel`) -> finish. Orchestration only: every read and write is an
activity (`activities.py`), called by name. Deterministic: no I/O, no clock but Temporal's.

A chunk that runs out of retries (WAHA down past the retry budget) has its chats recorded as
failed on the job, and the import goes on; `chatport import retry JOB` fetches them again.
Errors no retry mends (auth, session, configuration) fail the job and the workflow. A
cancelled workflow waits for its chunk activities to stop (each chunk is one transaction, so
the database stays consistent) and leaves the job `interrupted`, to resume, unless the job
itself was cancelled (`chatport import cancel`, a deleted channel): then its activities fail
with `JobCancelled`, retried never, and the workflow ends with the job `cancelled`.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from chatport.domain.progress import ImportProgress
    from chatport.engines.temporal.inputs import (
        FAIL_CHATS,
        FATAL_ERRORS,
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
    )

_SHORT = timedelta(minutes=10)


@workflow.defn
class ImportWorkflow:
    """One run of an import job (a new job, a resume, a retry of its failed chats)."""

    def __init__(self) -> None:
        self._progress = ImportProgress()
        self._running = 0
        self._fatal: ActivityError | None = None

    @workflow.query
    def progress(self) -> ImportProgress:
        """The job's progress as far as this workflow knows it."""
        return self._progress

    @workflow.signal
    def progressed(self, report: ChunkReport) -> None:
        """A chunk activity committed a chunk (sent by the activity, for the progress bar)."""
        self._add(report)

    @workflow.run
    async def run(self, job: ImportInput) -> JobOutcome:
        self._progress = job.progress
        ref = JobRef(job.job_id, job.owner)
        tasks: set[asyncio.Task] = set()
        try:
            if not job.prepared:
                await self._activity(PREPARE, ref, None, job, _SHORT)
            offset = job.offset
            per_page = -(-job.list_page // job.chats_per_activity) * job.chats_per_activity
            while self._fatal is None:
                listing = ListInput(ref, offset, per_page, job.only_chats)
                page = await self._activity(LIST_CHATS, listing, ChatPage, job, _SHORT)
                self._progress.chats_seen += len(page.chats)
                offset = page.next_offset
                groups = _groups(page.chats, job.chats_per_activity)
                for index, chats in enumerate(groups):
                    await workflow.wait_condition(lambda: self._running < job.max_parallel)
                    parallel = job.max_parallel
                    if page.complete:  # the last chunks may run fewer at once: fetch more each
                        parallel = min(parallel, self._running + len(groups) - index)
                    self._running += 1  # counted now: the task may start later
                    task = asyncio.create_task(self._chunk(job, ref, chats, parallel))
                    tasks.add(task)
                    task.add_done_callback(lambda done: self._ended(tasks, done))
                if page.complete:
                    self._progress.chats_listed = True
                    break
                if self._history_is_long(job):
                    await workflow.wait_condition(lambda: self._running == 0)
                    workflow.continue_as_new(
                        replace(job, offset=offset, prepared=True, progress=self._progress)
                    )
            await workflow.wait_condition(lambda: self._running == 0)
        except ActivityError as error:  # planning ran out of retries (WAHA down): resumable
            if _kind(error) in FATAL_ERRORS:
                self._fatal = error
            else:
                await workflow.wait_condition(lambda: self._running == 0)
                reason = f"planning stopped ({_reason(error)}); resume it"
                return await self._finish(job, ref, "interrupted", reason)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await workflow.wait_condition(lambda: self._running == 0)
            await self._finish(job, ref, "interrupted", "the workflow was cancelled; resume it")
            raise
        if self._fatal is not None:
            await workflow.wait_condition(lambda: self._running == 0)
            error = _reason(self._fatal)
            if _kind(self._fatal) == "JobCancelled":
                return JobOutcome("cancelled", error, {})
            if _kind(self._fatal) != "JobTakenOver":
                await self._finish(job, ref, "failed", error)
            raise ApplicationError(error, type=_kind(self._fatal), non_retryable=True)
        return await self._finish(job, ref, None, None)

    async def _chunk(
        self, job: ImportInput, ref: JobRef, chats: list[ChatRef], parallel: int
    ) -> None:
        try:
            timeout = timedelta(minutes=5, seconds=job.seconds_per_chat * len(chats))
            chunk = ChunkInput(ref, chats, parallel)
            await self._activity(IMPORT_CHATS, chunk, ChunkReport, job, timeout)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise
            if _kind(error) in FATAL_ERRORS:
                self._fatal = self._fatal or error
            else:
                ids = [chat.id for chat in chats]
                failing = FailInput(ref, ids, _reason(error))
                report = await self._activity(FAIL_CHATS, failing, ChunkReport, job, _SHORT)
                self._add(report)

    def _ended(self, tasks: set[asyncio.Task], task: asyncio.Task) -> None:
        """A chunk task ended (done, failed, or cancelled before it even started)."""
        tasks.discard(task)
        self._running -= 1

    async def _finish(
        self, job: ImportInput, ref: JobRef, status: str | None, error: str | None
    ) -> JobOutcome:
        finishing = FinishInput(ref, status, error)
        return await self._activity(FINISH, finishing, JobOutcome, job, _SHORT)

    async def _activity(self, name, argument, result_type, job: ImportInput, timeout):
        retries = job.retries
        return await workflow.execute_activity(
            name,
            argument,
            result_type=result_type,
            start_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=job.heartbeat_seconds),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=retries.initial_seconds),
                backoff_coefficient=retries.backoff,
                maximum_interval=timedelta(seconds=retries.maximum_seconds),
                maximum_attempts=retries.attempts,
                non_retryable_error_types=FATAL_ERRORS,
            ),
        )

    def _add(self, report: ChunkReport) -> None:
        progress = self._progress
        progress.messages += report.messages
        progress.created += report.created
        progress.chats_done += report.chats_done
        progress.chats_failed += report.chats_failed

    @staticmethod
    def _history_is_long(job: ImportInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= job.history_limit
        )


def _groups(chats: list[ChatRef], size: int) -> list[list[ChatRef]]:
    return [chats[start : start + size] for start in range(0, len(chats), size)]


def _kind(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.type or ""
    return type(cause).__name__


def _reason(error: ActivityError) -> str:
    cause = error.cause
    return f"{_kind(error)}: {cause.message if cause is not None else error}"
