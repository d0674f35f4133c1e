"""Logging, set up in one place: `configure(level, format)` gives the process one handler on
stderr, as text or as JSON lines (python-json-logger), which uvicorn's loggers share; and the
log lines of an import job's life, with its ids as fields:

    configure("info", "json")
    job_started(job, "resume")   # {"time": …, "level": "INFO", "logger": "chatport.jobs",
                                 #  "message": "import job … started (resume)", "job_id": …}

`chatport serve`, `chatport worker` and the import commands call `configure` with their
`--log-level` and `--log-format` (default: `CHATPORT_LOG_LEVEL`, `CHATPORT_LOG_FORMAT`).
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}

_CHATTY = ("alembic",)
jobs_log = logging.getLogger("chatport.jobs")


def configure(
    level: str = "info", format: LogFormat | str = LogFormat.TEXT, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record of `level` or above to `stream` (stderr) as text or JSON lines,
    replacing the handlers the root logger had (calling it again reconfigures). Returns the
    handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if LogFormat(format) is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(_JSON_FIELDS, rename_fields=_RENAMED, json_ensure_ascii=False)
        )
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in _CHATTY:  # their INFO lines say nothing an operator needs
        logging.getLogger(name).setLevel(quiet)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # through the root's handler
        uvicorn = logging.getLogger(name)
        uvicorn.handlers.clear()
        uvicorn.propagate = True
    return handler


def _job_fields(job: Any) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "channel_id": job.channel_id,
        "tenant_id": job.tenant_id,
        "kind": job.kind,
    }


def job_started(job: Any, run: str = "run") -> None:
    """An import job's run began (`run`: new, resume, retry, catch-up…)."""
    jobs_log.info(
        "import job %s started (%s) on channel %s, %d chats done before",
        job.id,
        run,
        job.channel_id,
        job.counters.get("chats_done", 0),
        extra={**_job_fields(job), "event": "job_started", "run": run},
    )


def job_finished(job: Any) -> None:
    """An import job's run ended with `job.status` (and `job.error`): info when it completed,
    a warning when some chats failed or it was interrupted, an error when it failed."""
    level = {"completed": logging.INFO, "failed": logging.ERROR}.get(job.status, logging.WARNING)
    counters = dict(job.counters)
    jobs_log.log(
        level,
        "import job %s %s: %d chats done, %d failed, %d messages created%s",
        job.id,
        job.status,
        counters.get("chats_done", 0),
        counters.get("chats_failed", 0),
        counters.get("created", 0),
        f" ({job.error})" if job.error else "",
        extra={
            **_job_fields(job),
            "event": "job_finished",
            "status": job.status,
            "error": job.error,
            "counters": counters,
        },
    )


def chats_failed(job: Any, failed: dict[str, str]) -> None:
    """Chats of `job` recorded as failed (chat id -> last error), one warning each."""
    for chat_id, error in failed.items():
        jobs_log.warning(
            "import job %s: chat %s failed: %s",
            job.id,
            chat_id,
            error,
            extra={**_job_fields(job), "event": "chat_failed", "chat_id": chat_id, "error": error},
        )
