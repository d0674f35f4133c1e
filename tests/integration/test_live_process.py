"""The live writer process: results come back per delivery, a dead writer fails what it held
(WAHA retries it) and the next delivery starts a new one."""

from __future__ import annotations

import os
import signal

import orjson
import pytest
from sqlalchemy import func, select

from chatport.bootstrap import build_database
from chatport.live.writer import Outcome
from chatport.live.writer_process import LiveWriterProcess
from chatport.settings import Settings
from chatport.sources.waha.webhooks import parse_envelope
from chatport.store.tables import messages


def envelope(n: int):
    payload = {
        "id": f"false_5511999990001@c.us_M{n}",
        "timestamp": 1741249700 + n,
        "from": "5511999990001@c.us",
        "fromMe": False,
        "body": f"hello {n}",
    }
    body = {"id": f"evt_{n}", "event": "message", "session": "default", "payload": payload}
    return parse_envelope(orjson.dumps(body))


def test_results_come_back_and_a_dead_writer_is_replaced(database_url: str) -> None:
    database = build_database(Settings(database_url=database_url))
    channel = database.channel()
    written: list[int] = []
    writer = LiveWriterProcess(
        Settings(database_url=database_url), on_written=lambda created, _: written.append(created)
    )
    try:
        assert writer.submit(channel, envelope(1)).result(timeout=60).outcome is Outcome.STORED
        assert writer.submit(channel, envelope(1)).result(timeout=60).outcome is Outcome.DUPLICATE
        child = writer._children[0]
        os.kill(child.pid, signal.SIGSTOP)  # a delivery in flight when the writer dies
        in_flight = writer.submit(channel, envelope(2))
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="live writer process"):
            in_flight.result(timeout=60)
        assert writer.submit(channel, envelope(3)).result(timeout=60).outcome is Outcome.STORED
        assert writer._children[0].pid != child.pid
    finally:
        writer.close()
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(messages)).scalar() == 2
    assert sum(written) == 2
    database.dispose()


def test_two_writers_split_deliveries_by_chat_and_a_dead_one_fails_only_its_own(
    database_url: str,
) -> None:
    database = build_database(Settings(database_url=database_url))
    channel = database.channel()

    def in_chat(chat: int, n: int):
        payload = {
            "id": f"false_55119999900{chat:02d}@c.us_M{n}",
            "timestamp": 1741249700 + n,
            "from": f"55119999900{chat:02d}@c.us",
            "fromMe": False,
            "body": f"hello {n}",
        }
        body = {"id": f"evt_{chat}_{n}", "event": "message", "session": "default"}
        return parse_envelope(orjson.dumps({**body, "payload": payload}))

    writer = LiveWriterProcess(Settings(database_url=database_url), writers=2)
    try:
        futures = [writer.submit(channel, in_chat(chat, n)) for n in range(5) for chat in range(8)]
        assert {f.result(timeout=60).outcome for f in futures} == {Outcome.STORED}
        first, second = writer._children
        assert first is not None and second is not None and first.pid != second.pid
        os.kill(first.pid, signal.SIGSTOP)
        held = [writer.submit(channel, in_chat(chat, 9)) for chat in range(8)]
        os.kill(first.pid, signal.SIGKILL)
        outcomes = []
        for future in held:
            try:
                outcomes.append(future.result(timeout=60).outcome)
            except RuntimeError:
                outcomes.append("failed")
        assert "failed" in outcomes and Outcome.STORED in outcomes  # only the dead one's
        retried = [writer.submit(channel, in_chat(chat, 9)) for chat in range(8)]
        assert {f.result(timeout=60).outcome for f in retried} <= {
            Outcome.STORED,
            Outcome.DUPLICATE,
        }
    finally:
        writer.close()
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(messages)).scalar() == 48
    database.dispose()
