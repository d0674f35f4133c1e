"""Liveness, readiness, and what every route answers while the database is unreachable.

`GET /healthz` says the process is alive (it reads nothing); `GET /readyz` says the database
answers and is at this chatport's schema revision, else 503 with `Retry-After`. A route that
meets an unreachable database (the webhooks, the API, the console) answers 503 with
`Retry-After` and the reason on one line of the log, not 500 with a traceback: WAHA retries
its deliveries, so nothing is lost.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool

from chatport.api.deps import DatabaseDep
from chatport.api.responses import ERRORS
from chatport.errors import DatabaseUnavailable
from chatport.store.database import Database
from chatport.store.migrate import HEAD_REVISION, current_revision
from chatport.store.reads import api as reads

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, DatabaseUnavailable)
"""What SQLAlchemy raises when the database cannot be reached or used (refused, gone,
dropped, a file unreadable, the pool exhausted), and what the live writer says then."""

logger = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers", responses=ERRORS)
async def healthz(database: DatabaseDep) -> dict[str, str]:
    """200 while the process serves; the database is not read (see `/readyz`)."""
    return {"status": "ok", "database": database.backend}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and is migrated",
    responses={**ERRORS, 503: {"description": "Not ready: the reason, with Retry-After"}},
)
async def readyz(database: DatabaseDep) -> Response:
    """200 when the database answers and is at this version's schema revision; 503 with
    `Retry-After` and the reason otherwise."""
    try:
        revision = await run_in_threadpool(_revision, database)
    except UNAVAILABLE as error:
        return _unavailable(f"the database is unreachable: {_first_line(error)}")
    if revision != HEAD_REVISION:
        state = "not migrated" if revision is None else f"at revision {revision}"
        return _unavailable(
            f"the database is {state}, not {HEAD_REVISION}: run `chatport db upgrade`"
        )
    body = {"status": "ready", "database": database.backend, "revision": revision}
    return JSONResponse(body)


def _revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        reads.ping(connection)
    return current_revision(database.engine)


async def database_unavailable(request: Request, error: Exception) -> Response:
    """The exception handler of `UNAVAILABLE`: 503 with Retry-After, one line in the log."""
    path, reason = request.url.path, _first_line(error)
    logger.warning("%s %s: the database is unavailable: %s", request.method, path, reason)
    return _unavailable("the database is unavailable; try again later")


def _unavailable(detail: str) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse({"detail": detail}, status_code=503, headers=headers)


def _first_line(error: Exception) -> str:
    """The driver's message, first line (SQLAlchemy's adds the statement and a link)."""
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
