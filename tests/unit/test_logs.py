"""Logs configured in one place (text or JSON lines), and the commands' machine output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from uuid import uuid4

import orjson
import pytest
from typer.testing import CliRunner

from chatport import __version__, logs
from chatport.cli import app


@pytest.fixture
def restored() -> Iterator[None]:
    """The root logger as it was (pytest's capture handlers), once the test has configured it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def job(**fields: object) -> SimpleNamespace:
    base = {"id": uuid4(), "channel_id": 3, "tenant_id": 1, "kind": "import", "error": None}
    return SimpleNamespace(**{**base, "counters": {}, **fields})


def test_a_json_log_line_carries_the_job_ids(restored: None) -> None:
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    failed = job(status="failed_chats", counters={"chats_done": 4, "chats_failed": 1})
    logs.job_finished(failed)
    logs.chats_failed(failed, {"1@c.us": "HTTP 500"})
    logging.getLogger("chatport.test").debug("not shown at info")
    ended, chat = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert ended["level"] == "WARNING" and ended["logger"] == "chatport.jobs"
    assert ended["job_id"] == str(failed.id) and ended["status"] == "failed_chats"
    assert ended["counters"] == {"chats_done": 4, "chats_failed": 1}
    assert "4 chats done, 1 failed" in ended["message"] and ended["time"]
    assert (chat["event"], chat["chat_id"], chat["error"]) == ("chat_failed", "1@c.us", "HTTP 500")


def test_text_logs_are_one_line_a_record(restored: None) -> None:
    stream = io.StringIO()
    logs.configure("debug", "text", stream)
    logs.job_started(job(status="running", counters={"chats_done": 2}), "resume")
    [line] = stream.getvalue().splitlines()
    assert "INFO" in line and "chatport.jobs" in line and "started (resume)" in line


def test_the_version_is_an_option_too() -> None:
    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.output.strip() == f"chatport {__version__}"
