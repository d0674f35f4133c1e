"""Benchmark: what a catch-up costs in WAHA requests and time, against the chats it reads.

    python bench/catch_up.py [--backend sqlite|postgresql|both] [--chats 10000]
        [--active 50] [--messages-per-chat 10] [--postgres-url postgresql://…/postgres]

The simulator runs in its own process (`chatport simulate waha --preload`), and counts the
`/api/` requests it answers. For each case (total chats, active chats), on a fresh database:
  import    the whole history imported (not timed);
  quiet     a catch-up when nothing happened since: the chats active in the overlap before the
            newest message (the last one or two of the history); it must store nothing;
  outage    4 new messages in each of `active` chats whose webhooks never came (the simulator
            in live mode, no webhook URL), then a catch-up: it must store exactly those;
  reimport  for comparison, the whole history imported again (every chat read, nothing new).
Requests are those the simulator counted during each step; times are wall times of the job's
run in this process (fetch process start included). The cases: `--chats` and a tenth of it
with `--active` active chats, and `--chats` with ten times `--active`; the catch-up's
requests should follow the active chats, not all the chats.
Ends with one `key=value` line per back end, for `--chats` total and `--active` active chats.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from import_waha import free_port  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from write_batch import fresh_database  # noqa: E402

from chatport.bootstrap import build  # noqa: E402
from chatport.engines.inprocess.runner import run_job  # noqa: E402
from chatport.ingest import import_jobs  # noqa: E402
from chatport.ingest.catch_up import begin_catch_up  # noqa: E402
from chatport.services import Services  # noqa: E402
from chatport.settings import Settings  # noqa: E402
from chatport.simulator.runner import simulator_process  # noqa: E402
from chatport.simulator.world import World  # noqa: E402
from chatport.store import channels  # noqa: E402
from chatport.store.tables import messages  # noqa: E402

PER_CHAT = 4
"""New messages in each active chat."""


class Waha:
    """The simulator's controls: its request counter, new messages."""

    def __init__(self, url: str) -> None:
        self.url = url

    def requests(self) -> int:
        with urllib.request.urlopen(self.url + "/simulator/live", timeout=60) as answer:
            return json.loads(answer.read())["requests"]

    def happen(self, chat: str, count: int) -> int:
        query = f"?count={count}&chat={urllib.request.quote(chat)}"
        request = urllib.request.Request(
            self.url + "/simulator/live/messages" + query, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return len(json.loads(answer.read())["created"])


def stored(services: Services) -> int:
    with services.database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()


def measured(waha: Waha, run) -> tuple[int, float, object]:
    """(requests, seconds, result) of `run()`."""
    before = waha.requests()
    start = time.perf_counter()
    result = run()
    return waha.requests() - before, time.perf_counter() - start, result


def catch_up(services: Services) -> dict:
    begun = begin_catch_up(services.database, services.database.channel().id, overlap=OVERLAP)
    importer = import_jobs.importer_for(services, begun.job)
    if run_job(importer) != "completed":
        raise SystemExit(f"the catch-up did not complete: {begun.job.error}")
    return begun.job.counters


def full_import(services: Services) -> dict:
    channel = services.database.channel()
    job = import_jobs.create_job(services.database, channel, None, datetime.now(UTC), {})
    if run_job(import_jobs.importer_for(services, job)) != "completed":
        raise SystemExit(f"the import did not complete: {job.error}")
    return job.counters


OVERLAP = timedelta(minutes=10)


def case(backend: str, postgres_url: str, chats: int, active: int, per_chat: int) -> dict:
    """The figures of one case (see the module docstring)."""
    world = World(chats, chats * per_chat, seed=1)
    options = ["--chats", str(chats), "--messages", str(chats * per_chat), "--preload"]
    with (
        simulator_process(free_port(), *options) as url,
        fresh_database(backend, postgres_url) as database_url,
    ):
        waha = Waha(url)
        services = build(Settings(database_url=database_url))
        try:
            database = services.database
            channel = database.channel()
            with database.unit_of_work() as uow:
                channels.remember_waha(
                    uow.connection, channel, url, "default", None, trusted=True,
                    secrets=database.secrets,
                )  # fmt: skip
                uow.commit()
            full_import(services)
            history = stored(services)
            quiet_requests, quiet_s, quiet = measured(waha, lambda: catch_up(services))
            if quiet.get("created", 0) or stored(services) != history:
                raise SystemExit("a quiet catch-up stored something")
            chosen = random.Random(7).sample([chat.id for chat in world.chats], active)
            happened = sum(waha.happen(chat, PER_CHAT) for chat in chosen)
            outage_requests, outage_s, outage = measured(waha, lambda: catch_up(services))
            if outage.get("created") != happened or stored(services) != history + happened:
                raise SystemExit(f"not exact: {outage} for {happened:,} new messages")
            reimport_requests, reimport_s, _ = measured(waha, lambda: full_import(services))
        finally:
            services.close()
    figures = {
        "chats": chats,
        "active": active,
        "catch_up_requests": outage_requests,
        "catch_up_s": round(outage_s, 2),
        "chats_read": outage.get("chats_done", 0),
        "created": outage.get("created", 0),
        "quiet_requests": quiet_requests,
        "quiet_s": round(quiet_s, 2),
        "reimport_requests": reimport_requests,
        "reimport_s": round(reimport_s, 2),
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()), flush=True)
    return figures


def bench(backend: str, args: argparse.Namespace) -> str:
    small = max(args.active * 2, args.chats // 10)
    main = case(backend, args.postgres_url, args.chats, args.active, args.messages_per_chat)
    fewer = case(backend, args.postgres_url, small, args.active, args.messages_per_chat)
    more = case(backend, args.postgres_url, args.chats, args.active * 10, args.messages_per_chat)
    figures = {
        "backend": backend,
        "chats": args.chats,
        "active": args.active,
        "catch_up_requests": main["catch_up_requests"],
        "catch_up_s": main["catch_up_s"],
        "quiet_requests": main["quiet_requests"],
        "quiet_s": main["quiet_s"],
        "reimport_requests": main["reimport_requests"],
        "reimport_s": main["reimport_s"],
        "requests_per_active_chat": f"{main['catch_up_requests'] / args.active:.2f}",
        f"requests_ratio_{args.chats}_vs_{small}_chats": (
            f"{main['catch_up_requests'] / fewer['catch_up_requests']:.2f}"
        ),
        f"requests_ratio_{args.active * 10}_vs_{args.active}_active": (
            f"{more['catch_up_requests'] / main['catch_up_requests']:.2f}"
        ),
    }
    return " ".join(f"{key}={value}" for key, value in figures.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--messages-per-chat", type=int, default=10)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    if args.active * 10 > args.chats:
        parser.error("--chats must be at least ten times --active")
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        print(bench(backend, args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
