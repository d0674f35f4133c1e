"""Benchmark: signed WAHA webhooks posted over loopback to `chatport serve`.

    python bench/webhooks.py [--backend postgresql|sqlite] [--messages 20000]
        [--connections 128] [--workers 1] [--rate 2000] [--seconds 10]
        [--postgres-url postgresql://…/postgres]

`chatport serve` runs in its own process on a fresh database; this process is the load
generator (aiohttp, its own event loop). Two phases, each with new message ids:
  saturate  `--messages` deliveries through `--connections` concurrent connections, as fast
            as the server answers: the sustained rate (msg/s);
  paced     deliveries sent at `--rate` per second for `--seconds` (open loop: a slow answer
            does not slow the sender down; latency counts from when a delivery was due, so
            waiting for one of the 256 connections counts), p50 / p99 (ms), and the rate
            actually achieved.
Every delivery is a `message` event (inbound, 200 chats, signed with HMAC-SHA512); 10 % are
sent twice (WAHA's retries). The run stops unless every answer was 2xx and the database holds
exactly the distinct messages sent. Ends with a `key=value` line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))

from write_batch import fresh_database  # noqa: E402

from chatport.bootstrap import build_database  # noqa: E402
from chatport.settings import Settings  # noqa: E402
from chatport.sources.waha.webhooks import sign  # noqa: E402
from chatport.store.tables import messages  # noqa: E402

KEY = "bench-key"
CHATS = 200


Delivery = tuple[bytes, dict[str, str]]


def deliveries(prefix: str, count: int, seed: int) -> list[Delivery]:
    """`count` signed deliveries (body, headers) of distinct inbound messages, 10 % of them
    twice. Signed here, before the clock runs, so the load generator's CPU goes to sending."""
    rng = random.Random(seed)
    start = 1_700_000_000
    bodies = []
    for n in range(count):
        chat = f"55119{n % CHATS:06d}@c.us"
        payload = {
            "id": f"false_{chat}_{prefix}{n:08d}",
            "timestamp": start + n,
            "from": chat,
            "to": "5511888880000@c.us",
            "fromMe": False,
            "body": f"message {n} " + "x" * rng.randrange(10, 200),
            "hasMedia": False,
            "_data": {"pushName": f"Person {n % CHATS}", "key": {"id": f"{prefix}{n:08d}"}},
        }
        envelope = {
            "id": f"evt_{prefix}{n:08d}",
            "timestamp": (start + n) * 1000,
            "event": "message",
            "session": "default",
            "me": {"id": "5511888880000@c.us", "pushName": "Shop"},
            "engine": "NOWEB",
            "environment": {"version": "2026.7.1", "engine": "NOWEB", "tier": "CORE"},
            "payload": payload,
        }
        bodies.append(orjson.dumps(envelope))
    bodies += rng.sample(bodies, count // 10)
    rng.shuffle(bodies)
    return [(body, sign(body, KEY) | {"content-type": "application/json"}) for body in bodies]


async def post(
    session: aiohttp.ClientSession, url: str, delivery: Delivery, since: float | None = None
) -> float:
    """Deliver one signed body; seconds from `since` (default: now) to its answer."""
    body, headers = delivery
    started = time.perf_counter() if since is None else since
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {await response.text()}")
    return time.perf_counter() - started


async def saturate(url: str, bodies: list[Delivery], connections: int) -> float:
    """Seconds to deliver `bodies` through `connections` concurrent connections."""
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body in queue:
                await post(session, url, body)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - started


async def paced(url: str, bodies: list[Delivery], rate: float) -> tuple[list[float], float]:
    """Latencies of `bodies` sent at `rate` per second (open loop, at most 256 connections:
    a delivery waiting for one counts as late), and the seconds taken."""
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        tasks = []
        for n, body in enumerate(bodies):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, url, body, since=due)))
        latencies = await asyncio.gather(*tasks)
        return latencies, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def serve(database_url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "CHATPORT_WEBHOOK_HMAC_KEY": KEY}
    command = ["chatport", "serve", "--db", database_url, "--port", str(port)]
    options = ["--workers", str(workers), "--log-level", "warning"]
    server = subprocess.Popen([*command, *options], env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("chatport serve did not start") from None
            time.sleep(0.1)


def stored(database_url: str) -> int:
    database = build_database(Settings(database_url=database_url))
    with database.engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(messages)).scalar_one()
    database.dispose()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=2_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    from import_waha import free_port

    saturating = deliveries("S", args.messages, seed=1)
    pacing = deliveries("P", int(args.rate * args.seconds / 1.1), seed=2)
    gc.collect()  # the generated deliveries stay out of the load generator's collections, so
    gc.freeze()  # its pauses (about 50-100 ms each) are not counted as the server's latency
    with fresh_database(args.backend, args.postgres_url) as database_url:
        port = free_port()
        server = serve(database_url, port, args.workers)
        url = f"http://127.0.0.1:{port}/webhooks/waha"
        try:
            asyncio.run(saturate(url, deliveries("W", 500, seed=3), args.connections))  # warm-up
            seconds = asyncio.run(saturate(url, saturating, args.connections))
            latencies, paced_seconds = asyncio.run(paced(url, pacing, args.rate))
        finally:
            server.terminate()
            server.wait()
        distinct = 500 + args.messages + len({body for body, _ in pacing})
        if stored(database_url) != distinct:
            raise SystemExit(f"not exact: stored {stored(database_url)}, sent {distinct}")
    figures = {
        "backend": args.backend,
        "workers": args.workers,
        "deliveries": len(saturating) + len(pacing),
        "msgs_per_s": f"{len(saturating) / seconds:.0f}",
        "paced_rate": f"{args.rate:.0f}",
        "paced_achieved": f"{len(pacing) / paced_seconds:.0f}",
        "p50_ms": f"{percentile(latencies, 0.50) * 1000:.1f}",
        "p99_ms": f"{percentile(latencies, 0.99) * 1000:.1f}",
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
