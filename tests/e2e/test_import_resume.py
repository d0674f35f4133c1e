"""`kill -9` in the middle of `chatport import waha`, then `chatport import resume`: nothing is
lost or doubled, and the sessions are those of the rule over the whole history."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import timedelta

from sqlalchemy import func, select

from chatport.bootstrap import build_database
from chatport.domain.model import Message
from chatport.domain.sessions import partition
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.store.tables import import_jobs, messages
from tests.e2e.test_cli import CHATPORT

WORLD = World(chats=80, messages=6_000, seed=21)
DISPLAYABLE = sum(1 for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)


def test_kill_nine_then_resume_loses_and_doubles_nothing(database_url: str) -> None:
    config = SimulatorConfig(WORLD, faults=Faults(latency_ms=15))
    with simulator_in_thread(config) as url:
        command = [CHATPORT, "import", "waha", "--url", url, "--db", database_url]
        options = ["--chunk-size", "250", "--concurrency", "2", "--page-size", "40"]
        process = subprocess.Popen(command + options, stdout=subprocess.PIPE, text=True)
        first_line = process.stdout.readline()
        assert first_line.startswith("import job"), first_line
        job_id = first_line.split()[2]
        database = build_database(Settings(database_url=database_url))
        try:
            # kill it once some chunks are committed, however slow the machine is today
            deadline = time.monotonic() + 120
            wanted = random.Random(os.getpid()).randint(1, 5) * 250
            while _count(database) < wanted:
                assert time.monotonic() < deadline, "the import did not start"
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            with database.engine.connect() as connection:
                partial = connection.execute(select(messages.c.id)).all()
            assert 0 < len(partial) < DISPLAYABLE, "kill the import in the middle"
            resumed = subprocess.run(
                [CHATPORT, "import", "resume", job_id, "--db", database_url],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            with database.engine.connect() as connection:
                rows = connection.execute(
                    select(
                        messages.c.external_id,
                        messages.c.chat_id,
                        messages.c.sent_at,
                        messages.c.session_id,
                    )
                ).all()
                status = connection.execute(select(import_jobs.c.status)).scalar_one()
        finally:
            database.dispose()
    assert status == "completed"
    assert len(rows) == len({row.external_id for row in rows}) == DISPLAYABLE
    by_chat: dict[str, list] = {}
    for row in rows:
        by_chat.setdefault(row.chat_id, []).append(row)
    for chat_rows in by_chat.values():
        session_of = {row.external_id: row.session_id for row in chat_rows}
        history = [
            Message(r.external_id, r.chat_id, r.sent_at, False, None, None, "text", None, None)
            for r in chat_rows
        ]
        expected = partition(history, timedelta(minutes=30))
        assert {frozenset(m.external_id for m in s) for s in expected} == {
            frozenset(e for e, sid in session_of.items() if sid == session)
            for session in set(session_of.values())
        }


def _count(database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()
