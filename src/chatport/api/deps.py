"""The routes' typed dependencies: the long-lived services of the server, built by
`bootstrap.serve_services` and handed to the app by `create_app`'s lifespan (`provide`). The
only module that touches the app's state:

    async def route(database: DatabaseDep, runner: ImportRunnerDep) -> ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from chatport.agent.delivery import AgentDeliverer
from chatport.api.directory import ChannelDirectory
from chatport.api.feed import ChatFeed
from chatport.api.keys import KeyCache
from chatport.api.metrics import Metrics
from chatport.bootstrap import ServerServices
from chatport.engines.catch_ups import CatchUpTriggers
from chatport.engines.inprocess.runner import ImportRunner
from chatport.live.writer_process import LiveWriterProcess
from chatport.services import Services
from chatport.settings import Settings
from chatport.store.database import Database


def provide(app: FastAPI, server: ServerServices) -> None:
    """Make `server` what the dependencies of `app`'s routes give."""
    app.state.server = server


def server_of(request: Request) -> ServerServices:
    """The server's services (plain Starlette routes, which have no dependencies, call it)."""
    return request.app.state.server


def _services(request: Request) -> Services:
    return server_of(request).services


def _settings(request: Request) -> Settings:
    return server_of(request).settings


def _database(request: Request) -> Database:
    return server_of(request).database


def _imports(request: Request) -> ImportRunner:
    return server_of(request).imports


def _keys(request: Request) -> KeyCache:
    return server_of(request).keys


def _metrics(request: Request) -> Metrics:
    return server_of(request).metrics


def _directory(request: Request) -> ChannelDirectory:
    return server_of(request).directory


def _live(request: Request) -> LiveWriterProcess:
    return server_of(request).live


def _deliverer(request: Request) -> AgentDeliverer:
    return server_of(request).deliverer


def _feed(request: Request) -> ChatFeed:
    return server_of(request).feed


def _catch_ups(request: Request) -> CatchUpTriggers:
    return server_of(request).catch_ups


ServerDep = Annotated[ServerServices, Depends(server_of)]
ServicesDep = Annotated[Services, Depends(_services)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
ImportRunnerDep = Annotated[ImportRunner, Depends(_imports)]
KeysDep = Annotated[KeyCache, Depends(_keys)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
DirectoryDep = Annotated[ChannelDirectory, Depends(_directory)]
LiveDep = Annotated[LiveWriterProcess, Depends(_live)]
DelivererDep = Annotated[AgentDeliverer, Depends(_deliverer)]
FeedDep = Annotated[ChatFeed, Depends(_feed)]
CatchUpsDep = Annotated[CatchUpTriggers, Depends(_catch_ups)]
