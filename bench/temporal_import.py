"""Benchmark: the same WAHA import in-process and on Temporal (dev server, one worker, this
machine).

    python bench/temporal_import.py [--backend postgresql|sqlite] [--messages 200000]
        [--chats 2000] [--postgres-url postgresql://…/postgres]

The simulator (`chatport simulate waha --preload`) and the Temporal dev server (`chatport
temporal dev`) run in their own processes; a `chatport worker` is started and ready before
the Temporal import is timed (workers are long-lived). Each import goes into a fresh
database and must store exactly the messages the simulator serves. Wall time of each
`chatport import waha` command, start to exit. Ends with one `key=value` line:
inprocess_s temporal_s ratio (Temporal / in-process; target <= 1.3).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from import_waha import displayable, simulator  # noqa: E402
from write_batch import fresh_database, stored  # noqa: E402

from tests.e2e.temporal_helpers import temporal_dev_server  # noqa: E402


def timed_import(url: str, database_url: str, env: dict[str, str], *options: str) -> float:
    command = ["chatport", "import", "waha", "--url", url, "--db", database_url, *options]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"import failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--chats", type=int, default=2_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    expected = displayable(args.chats, args.messages)
    env = dict(os.environ)
    with simulator(args.chats, args.messages) as url:
        with fresh_database(args.backend, args.postgres_url) as database_url:
            here = timed_import(url, database_url, env)
            if stored(database_url) != expected:
                raise SystemExit("the in-process import is not exact")
        with (
            temporal_dev_server() as address,
            fresh_database(args.backend, args.postgres_url) as database_url,
        ):
            env["CHATPORT_TEMPORAL_ADDRESS"] = address
            env["CHATPORT_TEMPORAL_TASK_QUEUE"] = f"bench-{uuid.uuid4().hex[:8]}"
            worker = subprocess.Popen(
                ["chatport", "worker", "--db", database_url],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            try:
                if "worker ready" not in worker.stdout.readline():
                    raise SystemExit("the worker did not start")
                there = timed_import(url, database_url, env, "--engine", "temporal")
            finally:
                worker.terminate()
                worker.wait(30)
            if stored(database_url) != expected:
                raise SystemExit("the Temporal import is not exact")
    figures = {
        "backend": args.backend,
        "messages": expected,
        "inprocess_s": f"{here:.2f}",
        "temporal_s": f"{there:.2f}",
        "ratio": f"{there / here:.2f}",
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
