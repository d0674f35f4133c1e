"""Benchmark: `chatport import waha` from the simulator, against the raw insert and a V1 baseline.

    python bench/import_waha.py [--backend sqlite|postgresql|both] [--messages 1000000]
        [--chats 10000] [--small-messages 100000] [--postgres-url postgresql://…/postgres]

The simulator runs in its own process (`chatport simulate waha`). For each back end, on fresh
databases:
  import    `chatport import waha` in a child process (wall time; peak RSS of it and its
            fetch processes together, sampled);
  reimport  after each import, the same command again: everything is a duplicate;
  raw       the rows the import stored (messages and their payload blocks), read back and
            inserted into a fresh database's `messages` and `message_raws` with the back
            end's fastest plain bulk insert, in transactions as
            large as the import's (the store's `import_chunk_size`: 10,000 on PostgreSQL,
            5,000 on SQLite), with the settings the import writes with;
  rounds    import, reimport and raw alternate --rounds times (3), each round on fresh
            databases, so that this shared machine's changes of speed (as much as 20 % from
            one minute to the next) fall on all three; ratio_vs_raw and reimport_speedup are
            ratios of mean times, msgs_per_s the import's mean;
  v1        the seeds' old path on a 2,000-message sample: one transaction per message, with
            find-or-create contact and session by SELECT then INSERT/UPDATE;
  small     the import of a smaller history (--small-messages), for the RSS ratio;
  bytes     after the first round's import: bytes on disk per message of `messages` and
            `message_raws` (table, TOAST, indexes: bench/table_bytes.py), as
            `<table>_<part>_b` figures and `bytes_per_message` (both tables).
The run stops unless the import stored exactly the messages the simulator serves.
Ends with one `key=value` line per back end: msgs_per_s ratio_vs_raw speedup_vs_v1
reimport_speedup peak_rss_mb rss_ratio_1m_vs_100k and the bytes figures (each index's bytes
per message on a line before it).

    python bench/import_waha.py --bytes-only [--messages 100000 --chats 1000]

measures only the bytes, after one import (a few seconds for 100,000 messages); the bytes do
not depend on the machine's load, unlike the times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import select  # noqa: E402
from table_bytes import index_figures, per_message  # noqa: E402
from v1_baseline import write_v1  # noqa: E402
from write_batch import fresh_database, insert_plainly  # noqa: E402

from chatport.bootstrap import build_database  # noqa: E402
from chatport.settings import Settings  # noqa: E402
from chatport.simulator.runner import simulator_process  # noqa: E402
from chatport.simulator.world import World  # noqa: E402
from chatport.sources.waha.client import WahaClient, WahaSettings  # noqa: E402
from chatport.sources.waha.messages import to_incoming  # noqa: E402
from chatport.store.backends.bulk import MESSAGE_COLUMNS  # noqa: E402
from chatport.store.database import Database  # noqa: E402
from chatport.store.raw_archive import RAW_COLUMNS  # noqa: E402
from chatport.store.tables import message_raws, messages  # noqa: E402

FETCHERS = 2
IMPORT_OPTIONS = ["--concurrency", "4", "--fetchers", str(FETCHERS)]
"""The import's options (the chunk size is the store's default)."""


def tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants, now (Linux /proc)."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        if "VmRSS:" in status:  # a zombie has none
            total += int(status.split("VmRSS:")[1].split()[0])
        pending += [int(child) for child in children]
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def simulator(chats: int, messages: int):
    options = ["--chats", str(chats), "--messages", str(messages), "--preload"]
    return simulator_process(free_port(), *options)


def timed_import(url: str, database_url: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one `chatport import waha` (the writer and its fetch
    processes together, sampled every 20 ms)."""
    command = ["chatport", "import", "waha", "--url", url, "--db", database_url, *IMPORT_OPTIONS]
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss_kb(process.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"import failed:\n{log.read().decode(errors='replace')}")
    return elapsed, peak / 1024


def raw_seconds(source_url: str, backend: str, postgres_url: str) -> tuple[float, int]:
    """Read the imported rows back (messages and their payload blocks) and time their plain
    bulk insert into a fresh database, with the settings the import writes with
    (`Database.bulk_writes`)."""
    source = build_database(Settings(database_url=source_url))
    columns = [messages.c[name] for name in MESSAGE_COLUMNS]
    blocks = [message_raws.c[name] for name in RAW_COLUMNS]
    with source.engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(select(*columns).order_by(messages.c.id))]
        block_rows = {row[0]: tuple(row) for row in connection.execute(select(*blocks))}
    source.dispose()
    with fresh_database(backend, postgres_url) as url:
        database = build_database(Settings(database_url=url))
        with database.bulk_writes() as target:
            elapsed = _raw_insert(target, backend, rows, block_rows)
        database.dispose()
    return elapsed, len(rows)


def _raw_insert(
    target: Database, backend: str, rows: list[tuple], blocks: dict[int, tuple]
) -> float:
    """Seconds to insert `rows` (as read back) in transactions of the import's size, each
    with the payload blocks its messages are the first to name."""
    ops = target.ops
    size = ops.import_chunk_size
    if backend == "sqlite":
        rows = [_sqlite_row(ops, row) for row in rows]
        blocks = {key: _sqlite_row(ops, row) for key, row in blocks.items()}
    else:
        rows = [tuple(_json(v).encode() if isinstance(v, dict) else v for v in row) for row in rows]
    at = MESSAGE_COLUMNS.index("raw_block")
    chunks = []
    for offset in range(0, len(rows), size):
        chunk = rows[offset : offset + size]
        named = dict.fromkeys(row[at] for row in chunk if row[at] in blocks)
        chunks.append((chunk, [blocks.pop(key) for key in named]))
    start = time.perf_counter()
    for chunk in chunks:
        insert_plainly(target.engine, backend, chunk)
    return time.perf_counter() - start


def _sqlite_row(ops, row: tuple) -> tuple:
    return tuple(
        ops.encode_time(v)
        if isinstance(v, datetime)
        else ops.encode_uuid(v)
        if hasattr(v, "hex") and not isinstance(v, bytes | str)
        else _json(v)
        if isinstance(v, dict)
        else v
        for v in row
    )


def _json(value: dict) -> str:
    from chatport.store.jsoncodec import dumps

    return dumps(value).decode()


def v1_rate(url: str, backend: str, postgres_url: str, sample: int = 2000) -> float:
    async def read() -> list:
        out = []
        async with WahaClient(WahaSettings(url=url, page_size=500)) as client:
            async for chat in client.chats():
                async for page in client.messages(chat.id):
                    out += [to_incoming(m.data, m.raw, chat.id, {}, chat.name) for m in page]
                if len(out) >= sample:
                    return out[:sample]
        return out

    incoming = asyncio.run(read())
    with fresh_database(backend, postgres_url) as database_url:
        database = build_database(Settings(database_url=database_url))
        start = time.perf_counter()
        write_v1(database, incoming, timedelta(minutes=30))
        elapsed = time.perf_counter() - start
        database.dispose()
    return len(incoming) / elapsed


def displayable(chats: int, messages: int) -> int:
    """Messages the simulator serves (what an exact import stores)."""
    world = World(chats, messages, seed=1)
    return sum(1 for chat in world.chats for r in world.messages(chat) if not r.hidden)


def stored_bytes(backend: str, database_url: str) -> dict[str, str]:
    """Bytes per message of the tables a message lives in (bench/table_bytes.py); prints
    those of each index on a line of their own."""
    database = build_database(Settings(database_url=database_url))
    with database.engine.connect() as connection:
        indexes = index_figures(connection)
        figures = per_message(connection)
    database.dispose()
    print(f"backend={backend} " + " ".join(f"{k}={v}" for k, v in indexes.items()), flush=True)
    return figures


def bytes_only(backend: str, args: argparse.Namespace) -> str:
    """One import, then its bytes per message."""
    with (
        simulator(args.chats, args.messages) as url,
        fresh_database(backend, args.postgres_url) as database_url,
    ):
        timed_import(url, database_url)
        figures = {"backend": backend, **stored_bytes(backend, database_url)}
    return " ".join(f"{key}={value}" for key, value in figures.items())


def bench(backend: str, args: argparse.Namespace) -> str:
    expected = displayable(args.chats, args.messages)
    firsts, agains, raws, rss_peaks = [], [], [], []
    sizes: dict[str, str] = {}
    with simulator(args.chats, args.messages) as url:
        for round_ in range(args.rounds):
            with fresh_database(backend, args.postgres_url) as database_url:
                first, rss = timed_import(url, database_url)
                sizes = sizes or stored_bytes(backend, database_url)
                again, _ = timed_import(url, database_url)
                raw, stored = raw_seconds(database_url, backend, args.postgres_url)
            if stored != expected:
                raise SystemExit(
                    f"not exact: stored {stored:,} messages, the simulator holds {expected:,}"
                )
            print(
                f"round={round_ + 1} import_s={first:.2f} reimport_s={again:.2f} "
                f"raw_s={raw:.2f} ratio={raw / first:.3f}",
                flush=True,
            )
            firsts.append(first)
            agains.append(again)
            raws.append(raw)
            rss_peaks.append(rss)
        v1 = v1_rate(url, backend, args.postgres_url)
    first, again = sum(firsts) / len(firsts), sum(agains) / len(agains)
    raw, rss = sum(raws) / len(raws), max(rss_peaks)
    small_chats = max(1, args.chats * args.small_messages // args.messages)
    with (
        simulator(small_chats, args.small_messages) as url,
        fresh_database(backend, args.postgres_url) as database_url,
    ):
        _, small_rss = timed_import(url, database_url)
    rate = stored / first
    figures = {
        "backend": backend,
        "messages": stored,
        "msgs_per_s": f"{rate:.0f}",
        "ratio_vs_raw": f"{raw / first:.3f}",
        "speedup_vs_v1": f"{rate / v1:.1f}",
        "reimport_speedup": f"{first / again:.2f}",
        "peak_rss_mb": f"{rss:.0f}",
        "rss_ratio_1m_vs_100k": f"{rss / small_rss:.2f}",
        "v1_msgs_per_s": f"{v1:.0f}",
        **sizes,
    }
    return " ".join(f"{key}={value}" for key, value in figures.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--small-messages", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="imports, each followed by a reimport and the raw insert",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--bytes-only",
        action="store_true",
        help="one import and its bytes per message, no timings",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        print((bytes_only if args.bytes_only else bench)(backend, args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
