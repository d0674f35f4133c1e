"""`chatport serve` and `chatport import` writing one SQLite file at once: both succeed (the
second writer waits for the lock, it does not fail), and every message is stored once."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from pathlib import Path

import orjson
from sqlalchemy import create_engine, func, select, text

from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.tables import messages
from tests.e2e.test_cli import CHATPORT
from tests.integration.test_live_during_import import post_all
from tests.servers import chatport_serve

KEY = "my-secret-key"
WORLD = World(chats=80, messages=40_000, seed=4)


def new_messages(count: int) -> list[bytes]:
    rng = random.Random(8)
    chats = [c for c in WORLD.chats if not c.id.endswith("@lid")]
    bodies = []
    for n in range(count):
        chat = rng.choice(chats)
        template = rng.choice(WORLD.messages(chat)).message
        payload = {
            **template,
            "id": f"false_{chat.id}_LIVE{n:06d}",
            "fromMe": False,
            "from": chat.id,
            "timestamp": template["timestamp"] + rng.randint(1, 5000),
        }
        bodies.append(
            orjson.dumps(
                {"id": f"evt_{n}", "event": "message", "session": "default", "payload": payload}
            )
        )
    return bodies


def test_serve_and_import_share_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert (
        subprocess.run([CHATPORT, "db", "upgrade", "--db", url], capture_output=True).returncode
        == 0
    )
    env = {"CHATPORT_WEBHOOK_HMAC_KEY": KEY}
    serving = chatport_serve(CHATPORT, url, env, "--log-level", "warning")
    with serving as (api, _), simulator_in_thread(SimulatorConfig(world=WORLD)) as waha:
        importing = subprocess.Popen(
            [CHATPORT, "import", "waha", "--url", waha, "--db", url, "--chunk-size", "2000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        engine = create_engine(url)
        with engine.connect() as connection:  # the import is writing: now the webhooks
            count = select(func.count()).select_from(messages)
            while not connection.execute(count).scalar() and importing.poll() is None:
                time.sleep(0.05)
        engine.dispose()
        overlapped = importing.poll() is None
        statuses = asyncio.run(post_all(api, new_messages(3_000)))
        output, _ = importing.communicate(timeout=300)
    assert importing.returncode == 0, output
    assert set(statuses) == {200} and overlapped
    displayable = sum(1 for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(messages)).scalar() == (
            displayable + 3_000
        )
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
