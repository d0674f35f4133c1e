"""Catch-ups on the Temporal engine (`CHATPORT_CATCHUP_ENGINE=temporal`, the real dev server and
a `chatport worker`): the server's trigger starts the channel's workflow, a trigger while it
runs is coalesced into it and makes it run once more."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from chatport.bootstrap import build
from chatport.engines.temporal import catch_up_workflow_id
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from tests.e2e.temporal_helpers import chatport, temporal_dev_server, temporal_env, worker
from tests.integration.test_catch_up_triggers import (
    WORLD,
    catch_up_jobs,
    import_everything,
    point_at,
    server,
)
from tests.waiting import eventually


@pytest.fixture(scope="module")
def temporal() -> Iterator[str]:
    with temporal_dev_server() as address:
        yield address


def runs(address: str, workflow_id: str, queue: str) -> list[WorkflowExecutionStatus]:
    """The statuses of the workflow's runs on this test's task queue."""

    async def statuses() -> list[WorkflowExecutionStatus]:
        client = await Client.connect(address)
        query = f"WorkflowId = '{workflow_id}' AND TaskQueue = '{queue}'"
        return [run.status async for run in client.list_workflows(query)]

    return asyncio.run(statuses())


def test_a_channels_catch_ups_run_as_its_workflow_and_coalesce(
    temporal: str, database_url: str
) -> None:
    env = temporal_env(temporal)
    settings = Settings(
        database_url=database_url,
        catchup_every_minutes=0,
        catchup_engine="temporal",
        temporal_address=temporal,
        temporal_task_queue=env["CHATPORT_TEMPORAL_TASK_QUEUE"],
    )
    services = build(settings)
    config = SimulatorConfig(WORLD, faults=Faults())
    channel_id = services.database.channel().id
    try:
        with simulator_in_thread(config) as url, worker(database_url, env):
            point_at(services, url)
            import_everything(services)
            with server(services) as (_, serving):
                eventually(  # the server's start
                    lambda: [job.status for job in catch_up_jobs(services)] == ["completed"],
                    "a catch-up at the server's start",
                )
                eventually(  # its workflow too: a trigger before it ends would coalesce
                    lambda: (
                        runs(
                            temporal, catch_up_workflow_id(channel_id), settings.temporal_task_queue
                        ).count(WorkflowExecutionStatus.COMPLETED)
                        == 1
                    ),
                    "the start's workflow ends",
                )
                config.faults.held = threading.Event()  # the next catch-up waits on WAHA
                first = serving.catch_ups.trigger(channel_id)
                eventually(lambda: len(catch_up_jobs(services)) == 2, "the next catch-up begins")
                second = serving.catch_ups.trigger(channel_id)
                config.faults.held.set()
                eventually(lambda: len(catch_up_jobs(services)) == 3, "it runs once more")
                eventually(
                    lambda: all(job.status == "completed" for job in catch_up_jobs(services)),
                    "every catch-up ends",
                )
    finally:
        services.close()
    workflow_id = catch_up_workflow_id(channel_id)
    assert first.workflow_id == second.workflow_id == workflow_id
    assert not first.coalesced and second.coalesced
    assert all(job.params["engine"] == "temporal" for job in catch_up_jobs(services))
    statuses = eventually(
        lambda: (
            (found := runs(temporal, workflow_id, settings.temporal_task_queue)).count(
                WorkflowExecutionStatus.COMPLETED
            )
            == 2
            and found
        ),
        "the workflow's runs end",
    )
    assert statuses.count(WorkflowExecutionStatus.CONTINUED_AS_NEW) == 1, statuses


def test_import_waha_catch_up_on_temporal_runs_the_channels_workflow(
    temporal: str, sqlite_url: str
) -> None:
    env = temporal_env(temporal)
    with simulator_in_thread(SimulatorConfig(WORLD)) as url, worker(sqlite_url, env):
        first = chatport(env, "import", "waha", "--url", url, "--db", sqlite_url)
        assert first.returncode == 0, first.stdout + first.stderr
        command = ["import", "waha", "--url", url, "--db", sqlite_url, "--catch-up"]
        caught = chatport(env, *command, "--engine", "temporal")
    assert caught.returncode == 0, caught.stdout + caught.stderr
    assert "catch-up workflow chatport-catch-up-1" in caught.stdout
    assert "catch-up" in caught.stdout and "completed" in caught.stdout
    services = build(Settings(database_url=sqlite_url))
    try:
        jobs = catch_up_jobs(services)
    finally:
        services.close()
    assert [(job.status, job.params["engine"]) for job in jobs] == [("completed", "temporal")]
