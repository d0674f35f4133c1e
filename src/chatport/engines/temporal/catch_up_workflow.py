"""A channel's catch-ups as one workflow (id `chatport-catch-up-<channel id>`, whichever server
triggers it): create the catch-up job (an activity), run it as the import workflow (a child,
the same chunk activities as any import), then run once more if a trigger came after the job
began. Triggers start it with the `again` signal (signal-with-start), so one that comes while
it runs is coalesced into it; a periodic round starts it only when it is not running."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from chatport.engines.temporal import workflow_id
    from chatport.engines.temporal.inputs import (
        BEGIN_CATCH_UP,
        FATAL_ERRORS,
        BeginInput,
        Begun,
        CatchUpInput,
        CatchUpOutcome,
        JobOutcome,
    )
    from chatport.engines.temporal.workflows import ImportWorkflow


@workflow.defn
class CatchUpWorkflow:
    """The catch-ups of one channel (see the module docstring)."""

    def __init__(self) -> None:
        self._triggered: float | None = None

    @workflow.signal
    def again(self) -> None:
        """A trigger: catch up (once more, if it comes after the running catch-up began)."""
        self._triggered = workflow.now().timestamp()

    @workflow.run
    async def run(self, request: CatchUpInput) -> CatchUpOutcome:
        retries = request.job.retries
        begun: Begun = await workflow.execute_activity(
            BEGIN_CATCH_UP,
            BeginInput(request.channel_id, request.overlap_seconds),
            result_type=Begun,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=retries.initial_seconds),
                maximum_interval=timedelta(seconds=retries.maximum_seconds),
                maximum_attempts=retries.attempts,
                non_retryable_error_types=FATAL_ERRORS,
            ),
        )
        if begun.job_id is None or begun.owner is None:
            return CatchUpOutcome(None, "coalesced")
        job = replace(request.job, job_id=begun.job_id, owner=begun.owner)
        try:
            outcome: JobOutcome = await workflow.execute_child_workflow(
                ImportWorkflow.run, job, id=workflow_id(begun.job_id), result_type=JobOutcome
            )
            status = outcome.status
        except ChildWorkflowError:
            status = "failed"  # the job says why
        triggered, until = self._triggered, begun.until
        if triggered is not None and until is not None and triggered > until:
            workflow.continue_as_new(request)
        return CatchUpOutcome(begun.job_id, status)
