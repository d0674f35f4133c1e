"""Where a WAHA import's CPU goes: seconds of CPU per process during one `chatport import waha`.

    python bench/cpu_split.py [--messages 300000] [--backend postgresql|sqlite] [--again]
        [--chunk-size N] [--postgres-url postgresql://…/postgres]

The simulator (`--preload`) runs in its own process, the import in another (as in
`import_waha.py`); every 50 ms the CPU time (user + system, `/proc/PID/stat`) of the main
process (SQLite's writer), its fetch processes (PostgreSQL's writers), the simulator and every
PostgreSQL server process is sampled. Prints one line per import (`--again`: then a
re-import): wall, main, fetchers (system time of each in brackets), simulator, postgres.
CPU seconds are steadier than wall time on a shared machine; compare two builds by
alternating runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from import_waha import IMPORT_OPTIONS, simulator  # noqa: E402
from write_batch import fresh_database  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> tuple[float, float, str] | None:
    """(user + system seconds, system seconds, name) of a process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    user, system = int(fields[11]) / _TICK, int(fields[12]) / _TICK
    return user + system, system, stat[stat.index("(") + 1 : stat.rindex(")")]


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postgres_cpu() -> dict[int, float]:
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (sample := cpu(int(name))) and sample[2].startswith("postgres"):
            found[int(name)] = sample[0]
    return found


def simulator_pid(port: str) -> int:
    for name in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"simulate" in argv and port.encode() in argv:
            return int(name)
    raise SystemExit("the simulator's process was not found")


def measure(url: str, database_url: str, simulator: int, options: list[str]) -> str:
    before, simulator_before = postgres_cpu(), cpu(simulator)[0]
    command = ["chatport", "import", "waha", "--url", url, "--db", database_url, *options]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    main, fetchers, server = (0.0, 0.0, ""), {}, {}
    while process.poll() is None:
        main = cpu(process.pid) or main
        for child in children(process.pid):
            fetchers[child] = cpu(child) or fetchers.get(child, (0.0, 0.0, ""))
        server |= postgres_cpu()
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"the import failed (exit {process.returncode})")
    fetch_cpu = sum(f[0] for f in fetchers.values())
    fetch_sys = sum(f[1] for f in fetchers.values())
    postgres = sum(seconds - before.get(pid, 0.0) for pid, seconds in server.items())
    return (
        f"wall={wall:.1f} main={main[0]:.1f} (sys {main[1]:.1f}) "
        f"fetchers={fetch_cpu:.1f} (sys {fetch_sys:.1f}) "
        f"simulator={cpu(simulator)[0] - simulator_before:.1f} postgres={postgres:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--again", action="store_true", help="then time a re-import")
    parser.add_argument("--chunk-size", type=int, help="default: the store's")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    options = IMPORT_OPTIONS + (["--chunk-size", str(args.chunk_size)] if args.chunk_size else [])
    with simulator(args.messages // 100, args.messages) as url:
        pid = simulator_pid(url.rsplit(":", 1)[1])
        with fresh_database(args.backend, args.postgres_url) as database_url:
            print("import", measure(url, database_url, pid, options), flush=True)
            if args.again:
                print("reimport", measure(url, database_url, pid, options), flush=True)


if __name__ == "__main__":
    main()
