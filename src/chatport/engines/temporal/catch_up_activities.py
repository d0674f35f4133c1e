"""The catch-up workflow's activity: the channel's catch-up job created in the database (or
the trigger coalesced into the one another process runs), leased to a new Temporal token."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import uuid4

from temporalio import activity

from chatport.domain.model import Engine
from chatport.engines.temporal.inputs import BEGIN_CATCH_UP, BeginInput, Begun
from chatport.ingest.catch_up import begin_catch_up
from chatport.services import Services


class CatchUpActivities:
    """The activity, bound to one worker's services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def all(self) -> list[Any]:
        """Every activity, for the worker to register."""
        return [self.begin_catch_up]

    @activity.defn(name=BEGIN_CATCH_UP)
    async def begin_catch_up(self, begin: BeginInput) -> Begun:
        """Create the channel's catch-up job (`ingest.catch_up.begin_catch_up`)."""
        return await asyncio.to_thread(self._begin, begin)

    def _begin(self, begin: BeginInput) -> Begun:
        owner = f"temporal/{uuid4().hex}"
        started = begin_catch_up(
            self.services.database,
            begin.channel_id,
            overlap=timedelta(seconds=begin.overlap_seconds),
            params={"engine": Engine.TEMPORAL.value},
            owner=owner,
        )
        job = started.job
        if started.coalesced or job is None:
            return Begun(None, None, None)
        return Begun(str(job.id), owner, job.until.timestamp() if job.until else None)
