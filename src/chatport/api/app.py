"""The ASGI app of `chatport serve`: `create_app(services)`."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatport import __version__
from chatport.api import deps, health
from chatport.api.body_limit import BodyLimit
from chatport.api.console import mount_console
from chatport.api.deps import MetricsDep, SettingsDep
from chatport.api.edge import EdgeGuard
from chatport.api.responses import ERRORS
from chatport.api.routers import (
    agent_jobs,
    baileys,
    catch_ups,
    channel_settings,
    channels,
    conversations,
    imports,
    webhooks,
)
from chatport.bootstrap import Services, build, serve_services
from chatport.errors import ChannelConflict, JobBusy, SecretKeyError
from chatport.logs import configure as configure_logs


def app_from_environment() -> FastAPI:
    """The API over services built from the environment (CHATPORT_*), closed with the app:
    the factory each `chatport serve --workers N` process calls."""
    services = build()
    configure_logs(services.settings.log_level, services.settings.log_format)
    return create_app(services, own_services=True)


def create_app(services: Services, *, own_services: bool = False) -> FastAPI:
    """The API over `services`. The app starts and stops the server's long-lived services
    (`bootstrap.serve_services`) with its lifespan, and closes `services` too when it owns
    them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with serve_services(services, close_services=own_services) as server:
            deps.provide(app, server)
            yield

    app = FastAPI(
        title="chatport",
        version=__version__,
        summary="WhatsApp conversations (WAHA) into a CRM database, kept there.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    docs = tuple(path for path in (app.docs_url, app.redoc_url) if path)
    app.add_middleware(EdgeGuard, docs_paths=docs)
    app.add_exception_handler(JobBusy, _job_busy)
    app.add_exception_handler(SecretKeyError, _secret_unreadable)
    app.add_exception_handler(ChannelConflict, _channel_conflict)
    app.router.routes.append(webhooks.ROUTE)
    app.include_router(channels.router)
    app.include_router(channel_settings.router)
    app.include_router(conversations.router)
    app.include_router(imports.router)
    app.include_router(catch_ups.router)
    app.include_router(agent_jobs.router)
    app.include_router(baileys.router)
    app.include_router(health.router)
    for unavailable in health.UNAVAILABLE:
        app.add_exception_handler(unavailable, health.database_unavailable)
    mount_console(app)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        responses={**ERRORS, 200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def prometheus_metrics(
        metrics: MetricsDep,
        settings: SettingsDep,
        authorization: Annotated[
            str | None,
            Header(description="`Bearer <CHATPORT_METRICS_TOKEN>`, when that is set"),
        ] = None,
    ) -> Response:
        """The process's Prometheus metrics; with `CHATPORT_METRICS_TOKEN` set, only for
        `Authorization: Bearer <token>` (401 otherwise)."""
        token = settings.metrics_token
        if token and not _bearer_is(authorization, token):
            raise HTTPException(
                401, "missing or wrong metrics token", {"WWW-Authenticate": "Bearer"}
            )
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


def _bearer_is(authorization: str | None, token: str) -> bool:
    """Whether `authorization` is `Bearer <token>` (compared in constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def _job_busy(request: Request, error: Exception) -> Response:
    """An import job another run holds: 409, whichever route met it."""
    return JSONResponse({"detail": str(error)}, status_code=409)


async def _channel_conflict(request: Request, error: Exception) -> Response:
    """A channel configured for another channel's WAHA session: 409 with the reason."""
    return JSONResponse({"detail": str(error)}, status_code=409)


async def _secret_unreadable(request: Request, error: Exception) -> Response:
    """A channel secret CHATPORT_SECRET_KEY does not open (a webhook's channel key, a WAHA
    key): 503 for that channel's requests, the reason logged (WAHA retries its deliveries,
    which go through once the key is fixed)."""
    logging.getLogger(__name__).error("%s %s: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "a secret of this channel cannot be read (see the server's log)"},
        status_code=503,
    )
