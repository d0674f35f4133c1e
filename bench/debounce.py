"""Benchmark: the debouncer's latency, and its isolation from faulty neighbours.

    python bench/debounce.py [--backend sqlite|postgresql|both] [--chats 1000]
        [--quiet-ms 1000] [--spread 10] [--postgres-url postgresql://…/postgres]

`--chats` chats send a burst of three bubbles each (50 ms apart), signed WAHA webhooks posted
over loopback to a real `chatport serve` on a fresh database, their starts spread evenly over
`--spread` seconds. A stub agent (this process) answers at once and records when each job
reached it (in a process of its own); the replies are sent through the WAHA simulator (in a
process of its own). Per chat, on this machine's clock:
  bubble -> job   from the arrival of its burst's last bubble (the burst's `last_at`) to its
                  job's `created_at`,
  job -> agent    from the job's `created_at` to the stub agent's receipt of it.
Two runs: `clean`, then `faulty`, where one chat's channel has a WAHA that never answers and
another chat's channel has an agent that holds each job 30 s. The figures compare the other
chats (all but those two) in both runs. Targets: bubble -> job p99 <= quiet window + 250 ms;
job -> agent p99 <= 100 ms; faulty p99 within 1.2x of clean. Ends with a `key=value` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import queue
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))

from write_batch import fresh_database  # noqa: E402

from chatport.bootstrap import build_database  # noqa: E402
from chatport.settings import Settings  # noqa: E402
from chatport.simulator.runner import simulator_process  # noqa: E402
from chatport.sources.waha.webhooks import sign  # noqa: E402
from chatport.store.channels import create_channel, remember_waha  # noqa: E402
from chatport.store.reads.api import set_agent  # noqa: E402
from chatport.store.tables import agent_jobs, bursts  # noqa: E402

KEY = "bench-key"
RUNS = ("clean", "faulty")
HEALTHY = 10
"""Channels of the healthy chats; two more hold one chat each: the faulty neighbours."""


class StubAgent:
    """An HTTP agent in a process of its own (so this process's load does not delay it):
    `/ok` answers at once, `/hang` after 30 s; `calls()` maps each job id to when it arrived
    (time.time())."""

    def __init__(self) -> None:
        self.port = _free_port()
        self._calls: multiprocessing.Queue = multiprocessing.Queue()
        self._known: dict[str, float] = {}
        ready = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=_agent_main, args=(self.port, self._calls, ready), daemon=True
        )
        self._process.start()
        if not ready.wait(30):
            raise SystemExit("the stub agent did not start")

    def calls(self) -> dict[str, float]:
        while True:
            try:
                job, arrived = self._calls.get_nowait()
            except queue.Empty:
                return self._known
            self._known.setdefault(job, arrived)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self._process.terminate()
        self._process.join(10)


def _agent_main(port: int, calls: multiprocessing.Queue, ready) -> None:
    async def ok(request: web.Request) -> web.Response:
        arrived = time.time()
        calls.put((orjson.loads(await request.read())["job_id"], arrived))
        return web.json_response({"reply": "got it"})

    async def hang(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(30)
        return web.json_response({"reply": "sorry, late"})

    async def run() -> None:
        app = web.Application()
        app.add_routes([web.post("/ok", ok), web.post("/hang", hang)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_waha() -> Iterator[str]:
    """A WAHA gone quiet: it takes connections and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1024)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


def layout(chats: int) -> dict[str, str]:
    """chat id -> channel name: all but two on the healthy channels, one on `waha-down`, one
    on `agent-hang`."""
    placed = {f"55119{n:07d}@c.us": f"healthy-{n % HEALTHY}" for n in range(chats - 2)}
    placed["5511800000001@c.us"] = "waha-down"
    placed["5511800000002@c.us"] = "agent-hang"
    return placed


def prepare(database_url: str, waha: str, agent: StubAgent, faulty: bool, quiet_waha: str):
    """The channels, each with its WAHA (the simulator; the silent one for `waha-down` when
    faulty) and `agent-hang` with its own agent (the hanging one when faulty)."""
    database = build_database(Settings(database_url=database_url))
    names = [f"healthy-{n}" for n in range(HEALTHY)] + ["waha-down", "agent-hang"]
    with database.unit_of_work() as uow:
        for name in names:
            channel = create_channel(uow.connection, name, default_timeout=database.default_timeout)
            url = quiet_waha if faulty and name == "waha-down" else waha
            remember_waha(
                uow.connection, channel, url, name, None, trusted=True, secrets=database.secrets
            )
            if name == "agent-hang":
                path = "hang" if faulty else "ok"
                set_agent(uow.connection, channel.id, agent.url(path), None, None)
        uow.commit()
    database.dispose()


def serve(database_url: str, port: int, agent: StubAgent, quiet_ms: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CHATPORT_WEBHOOK_HMAC_KEY": KEY,
        "CHATPORT_AGENT_URL": agent.url("ok"),
        "CHATPORT_ALLOW_PRIVATE_URLS": "true",
        "CHATPORT_DEBOUNCE_QUIET_MS": str(quiet_ms),
        "CHATPORT_SEND_RATE_PER_MINUTE": "6000",
    }
    command = ["chatport", "serve", "--db", database_url, "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("chatport serve did not start") from None
            time.sleep(0.1)


def bubble(chat: str, channel: str, n: int) -> tuple[str, bytes, dict[str, str]]:
    stamp = int(time.time())
    payload = {
        "id": f"false_{chat}_B{n}",
        "timestamp": stamp,
        "from": chat,
        "to": "5511888880000@c.us",
        "fromMe": False,
        "body": f"bubble {n}",
        "_data": {"pushName": "Someone"},
    }
    envelope = {
        "id": f"evt_{chat}_{n}",
        "timestamp": stamp * 1000,
        "event": "message",
        "session": channel,
        "engine": "NOWEB",
        "environment": {"version": "2026.7.1", "engine": "NOWEB"},
        "payload": payload,
    }
    body = orjson.dumps(envelope)
    return channel, body, sign(body, KEY) | {"content-type": "application/json"}


async def send_bursts(base: str, placed: dict[str, str], spread: float) -> None:
    """Each chat's burst, starts spread evenly."""
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def burst(chat: str, channel: str, start: float) -> None:
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            for n in range(3):
                name, body, headers = bubble(chat, channel, n)
                url = f"{base}/webhooks/waha?channel={name}"
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"HTTP {response.status}: {await response.text()}")
                if n < 2:
                    await asyncio.sleep(0.05)

        began = time.monotonic() + 0.5
        step = spread / max(1, len(placed))
        await asyncio.gather(
            *(
                burst(chat, channel, began + index * step)
                for index, (chat, channel) in enumerate(placed.items())
            )
        )


def jobs_of(database_url: str) -> dict[str, tuple[str, float, float]]:
    """chat -> (its job's id, its `created_at`, its burst's last bubble's arrival), times as
    time.time() of the server (this machine's clock)."""
    database = build_database(Settings(database_url=database_url))
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(
                agent_jobs.c.chat_id, agent_jobs.c.id, agent_jobs.c.created_at, bursts.c.last_at
            ).join(bursts, bursts.c.id == agent_jobs.c.burst_id)
        ).all()
    database.dispose()
    return {
        row.chat_id: (str(row.id), row.created_at.timestamp(), row.last_at.timestamp())
        for row in rows
    }


def run(backend: str, args: argparse.Namespace, faulty: bool, waha: str) -> dict[str, list]:
    """One run; the figures (seconds) of the healthy chats."""
    placed = layout(args.chats)
    healthy = [chat for chat, channel in placed.items() if channel.startswith("healthy")]
    agent = StubAgent()
    with (
        fresh_database(backend, args.postgres_url) as database_url,
        silent_waha() as quiet_waha,
    ):
        prepare(database_url, waha, agent, faulty, quiet_waha)
        port = _free_port()
        server = serve(database_url, port, agent, args.quiet_ms)
        try:
            asyncio.run(send_bursts(f"http://127.0.0.1:{port}", placed, args.spread))
            deadline = time.monotonic() + 120
            while True:
                jobs, calls = jobs_of(database_url), agent.calls()
                done = [c for c in healthy if c in jobs and jobs[c][0] in calls]
                if len(done) == len(healthy):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{len(done)} of {len(healthy)} healthy chats answered")
                time.sleep(0.2)
        finally:
            server.terminate()
            server.wait()
            agent.close()
    return {
        "bubble_job": [jobs[c][1] - jobs[c][2] for c in healthy],
        "job_agent": [calls[jobs[c][0]] - jobs[c][1] for c in healthy],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--quiet-ms", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=10.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    figures: dict[str, str] = {"chats": str(args.chats), "quiet_ms": str(args.quiet_ms)}
    with simulator_process(_free_port(), "--chats", "2", "--messages", "10") as waha:
        for backend in backends:
            runs = {name: run(backend, args, name == "faulty", waha) for name in RUNS}
            print(f"{backend}: {args.chats - 2} healthy chats, quiet window {args.quiet_ms} ms")
            print(f"  {'':8} {'bubble->job p50':>16} {'p99':>8} {'job->agent p50':>15} {'p99':>8}")
            for name, found in runs.items():
                row = [percentile(found[k], q) * 1000 for k in found for q in (0.5, 0.99)]
                print(f"  {name:8} {row[0]:13.0f} ms {row[1]:5.0f} ms {row[2]:12.1f} ms "
                      f"{row[3]:5.1f} ms")  # fmt: skip
                for key, share in (("bubble_job", 0.5), ("bubble_job", 0.99)):
                    label = f"{backend}_{name}_{key}_p{int(share * 100)}_ms"
                    figures[label] = f"{percentile(found[key], share) * 1000:.0f}"
                for key, share in (("job_agent", 0.5), ("job_agent", 0.99)):
                    label = f"{backend}_{name}_{key}_p{int(share * 100)}_ms"
                    figures[label] = f"{percentile(found[key], share) * 1000:.1f}"
            for key in ("bubble_job", "job_agent"):
                clean = percentile(runs["clean"][key], 0.99)
                faulty = percentile(runs["faulty"][key], 0.99)
                figures[f"{backend}_{key}_p99_faulty_over_clean"] = f"{faulty / clean:.2f}"
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
