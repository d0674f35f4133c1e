"""Imports as Temporal workflows (`chatport[temporal]`): `workflows.py` orchestrates,
`activities.py` runs the in-process engine's chunk step, `worker.py` hosts both, `starter.py`
starts a job's workflow and follows it."""


def workflow_id(job_id: object) -> str:
    """The workflow id of an import job: one workflow at a time per job."""
    return f"chatport-import-{job_id}"


def catch_up_workflow_id(channel_id: int) -> str:
    """The workflow id of a channel's catch-ups: one at a time per channel, whichever server
    triggers it."""
    return f"chatport-catch-up-{channel_id}"
