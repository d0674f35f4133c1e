"""Catch-ups on the Temporal engine (`CHATPORT_CATCHUP_ENGINE=temporal`): a trigger starts the
channel's catch-up workflow (`catch_up_workflow.py`), whose id is the channel's, so triggers
of several servers coalesce into one run; the workers create and run the job."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from chatport.engines.temporal import catch_up_workflow_id
from chatport.engines.temporal.catch_up_workflow import CatchUpWorkflow
from chatport.engines.temporal.inputs import CatchUpInput, CatchUpOutcome
from chatport.engines.temporal.starter import TemporalTarget, connect, workflow_input
from chatport.ingest.catch_up import CatchUpStart
from chatport.settings import Settings

_RPC_SECONDS = 30


class TemporalCatchUps:
    """`CatchUpStarter` of the Temporal engine: a client on an event loop of its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.target = TemporalTarget.of(settings)
        self._client: Client | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="catch-ups-temporal", daemon=True
        )
        self._thread.start()

    def start(self, channel_id: int, *, again: bool) -> CatchUpStart:
        """Start the channel's workflow with the `again` signal (a running one is signalled:
        it runs once more), or, for a periodic round (`again` false), only when none runs.
        ConfigurationError when Temporal does not answer."""
        running = asyncio.run_coroutine_threadsafe(self._start(channel_id, again), self._loop)
        return running.result()

    async def _start(self, channel_id: int, again: bool) -> CatchUpStart:
        if self._client is None:
            self._client = await connect(self.target)
        return await start_catch_up(self._client, self.settings, channel_id, again=again)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _running(client: Client, workflow_id: str) -> bool:
    """Whether the workflow runs now (a trigger is then coalesced into it)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


async def start_catch_up(
    client: Client, settings: Settings, channel_id: int, *, again: bool = True
) -> CatchUpStart:
    """Start the channel's catch-up workflow on `settings`' task queue (see
    `TemporalCatchUps.start`)."""
    workflow_id = catch_up_workflow_id(channel_id)
    running = await _running(client, workflow_id)
    request = CatchUpInput(
        channel_id=channel_id,
        overlap_seconds=settings.catchup_overlap_minutes * 60,
        job=workflow_input(settings, "", "", None),
    )
    options = {
        "id": workflow_id,
        "task_queue": settings.temporal_task_queue,
        "rpc_timeout": timedelta(seconds=_RPC_SECONDS),
    }
    if again:
        run = CatchUpWorkflow.run
        await client.start_workflow(run, request, start_signal="again", **options)
    elif not running:
        policy = WorkflowIDConflictPolicy.USE_EXISTING  # started by another server meanwhile
        await client.start_workflow(
            CatchUpWorkflow.run, request, id_conflict_policy=policy, **options
        )
    return CatchUpStart(None, coalesced=running, workflow_id=workflow_id)


async def follow_catch_up(client: Client, workflow_id: str) -> CatchUpOutcome:
    """The outcome of the channel's catch-up workflow, once it ends (through its runs once
    more)."""
    handle = client.get_workflow_handle(workflow_id, result_type=CatchUpOutcome)
    return await handle.result()
