"""A Temporal worker for imports: the import workflow and its activities on one task queue.
Run as many as needed, on as many machines, against one Temporal cluster and one database."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from chatport.engines.temporal.activities import ImportActivities
from chatport.engines.temporal.catch_up_activities import CatchUpActivities
from chatport.engines.temporal.catch_up_workflow import CatchUpWorkflow
from chatport.engines.temporal.workflows import ImportWorkflow
from chatport.runtime.heap import for_bulk_work
from chatport.services import Services


def build_worker(
    client: Client, services: Services, task_queue: str, *, max_activities: int = 2
) -> Worker:
    """A worker of `task_queue` running at most `max_activities` activities at once (each
    chunk activity runs a fetch process and writes in a thread)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ImportWorkflow, CatchUpWorkflow],
        activities=ImportActivities(services).all() + CatchUpActivities(services).all(),
        max_concurrent_activities=max_activities,
        graceful_shutdown_timeout=timedelta(seconds=10),
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("chatport")
        ),
    )


async def run_worker(
    services: Services,
    address: str,
    namespace: str,
    task_queue: str,
    *,
    max_activities: int = 2,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker until SIGINT or SIGTERM, then stop taking tasks and let running
    activities finish (up to the graceful shutdown timeout)."""
    client = await Client.connect(address, namespace=namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with build_worker(client, services, task_queue, max_activities=max_activities):
        for_bulk_work()
        if on_ready is not None:
            on_ready()
        await stop.wait()
