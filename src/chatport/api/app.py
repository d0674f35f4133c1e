"""The ASGI app of `chatport serve`: `create_app(services)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from chatport import __version__
from chatport.agent.debouncer import Debouncer
from chatport.agent.delivery import AgentDeliverer
from chatport.api.auth import KeyCache
from chatport.api.console import mount_console
from chatport.api.routers import agent_jobs, baileys, channels, imports, webhooks
from chatport.api.routers.metrics import Metrics
from chatport.bootstrap import Services, build
from chatport.engines.inprocess.runner import ImportRunner
from chatport.live.writer_process import LiveWriterProcess
from chatport.runtime.heap import freeze_heap


def app_from_environment() -> FastAPI:
    """The API over services built from the environment (CHATPORT_*), closed with the app:
    the factory each `chatport serve --workers N` process calls."""
    return create_app(build(), own_services=True)


def create_app(services: Services, *, own_services: bool = False) -> FastAPI:
    """The API over `services`. The app starts and stops its live writer with its lifespan,
    and closes `services` too when it owns them."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = services.settings
        writers = settings.live_writers if services.database.ops.name == "postgresql" else 1
        app.state.live = LiveWriterProcess(settings, on_written=metrics.written, writers=writers)
        debouncer = Debouncer(
            services.database, settings.burst_rules, on_jobs=metrics.debounced
        ).start()
        deliverer = AgentDeliverer(services.database, settings).start()
        freeze_heap()
        try:
            yield
        finally:
            debouncer.close()
            deliverer.close()
            app.state.live.close()
            if own_services:
                services.close()

    app = FastAPI(
        title="chatport",
        version=__version__,
        summary="WhatsApp conversations (WAHA) into a CRM database, kept there.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.settings = services.settings
    app.state.metrics = metrics
    app.state.directory = webhooks.ChannelDirectory(
        services.database, create_unknown=services.settings.webhook_create_channels
    )
    app.state.keys = KeyCache()
    app.state.imports = ImportRunner(
        services, on_created=metrics.messages_written.labels("import").inc
    )
    metrics.watch_imports(app.state.imports)
    metrics.watch_agent(services.database)
    app.router.routes.append(webhooks.ROUTE)
    app.include_router(channels.router)
    app.include_router(imports.router)
    app.include_router(agent_jobs.router)
    app.include_router(baileys.router)
    mount_console(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness and database reachability")
    async def healthz() -> dict[str, str]:
        def ping() -> None:
            with services.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        await run_in_threadpool(ping)
        return {"status": "ok", "database": services.database.backend}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema["paths"]["/webhooks/waha"] = {"post": webhooks.OPENAPI_OPERATION}
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                webhooks.OPENAPI_COMPONENTS
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
