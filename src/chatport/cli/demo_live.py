"""`chatport demo --live`: the simulated WhatsApp account keeps talking while chatport, then
the WhatsApp session, goes down; the catch-ups bring in what the webhooks never delivered."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.request import Request, urlopen

import msgspec
import uvicorn
from rich.console import Console

from chatport.bootstrap import Services
from chatport.cli.imports import create_waha_job, run_with_progress
from chatport.simulator.live import LiveSettings, LiveTraffic
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.channels import sessions_follow_the_rule
from chatport.store.jobs import import_jobs as jobs
from chatport.store.reads.demo import message_ids

_API_KEY = "demo"


def live_demo(
    services: Services, world: World, channel: str, rate: float, outage: float, port: int
) -> bool:
    """Run the live demo (see the module docstring); whether every message the simulator
    created is stored exactly once and the sessions follow the rule."""
    console = Console()
    key = secrets.token_hex(16)
    services = Services(
        services.settings.model_copy(update={"webhook_hmac_key": key, "catchup_every_minutes": 0}),
        services.database,
    )
    hook = f"http://127.0.0.1:{port}/webhooks/waha?channel={channel}"
    traffic = LiveTraffic(world, LiveSettings(rate=0, webhook_url=hook, hmac_key=key))
    config = SimulatorConfig(world, api_key=_API_KEY, live=traffic)
    with simulator_in_thread(config) as url:
        console.rule("the history")
        job = create_waha_job(services, url, "default", _API_KEY, channel, None, _now(), {})
        run_with_progress(services, job, None, None)
        control = _Control(url)
        control.patch(rate=rate)
        console.rule(f"live: {rate:g} new messages a second, as signed webhooks")
        with _serving(services, port):
            _watch(console, control, outage, "chatport up")
        console.rule(f"chatport down for {outage:g} s (WAHA gives its webhooks up)")
        _watch(console, control, outage, "chatport down")
        console.rule("chatport up again: it catches up at its start")
        with _serving(services, port):
            _show_catch_up(console, services, channel, 1)
            console.rule(f"the WhatsApp session drops for {outage:g} s, then works again")
            control.post("/simulator/live/session/drop", seconds=outage)
            _watch(console, control, outage + 1, "session down")
            _show_catch_up(console, services, channel, 2)
            control.patch(rate=0)
            while control.state()["pending"]:
                time.sleep(0.1)
    return _verdict(console, services, channel, traffic, world)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class _Control:
    """The simulator's live controls (`/simulator/live/…`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def state(self) -> dict[str, Any]:
        return self._ask("GET", "/simulator/live")

    def patch(self, **settings: Any) -> None:
        self._ask("PATCH", "/simulator/live", msgspec.json.encode(settings))

    def post(self, path: str, seconds: float | None = None) -> None:
        self._ask("POST", path + (f"?seconds={seconds}" if seconds is not None else ""))

    def _ask(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        headers = {"X-Api-Key": _API_KEY, "content-type": "application/json"}
        with urlopen(Request(self.url + path, body, headers, method=method), timeout=30) as got:
            return msgspec.json.decode(got.read())


@contextmanager
def _serving(services: Services, port: int) -> Iterator[None]:
    """`chatport serve` (this process, a thread) on `port` for the block."""
    from chatport.api.app import create_app

    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(30)


def _watch(console: Console, control: _Control, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        state = control.state()
        console.print(
            f"{what:>14}: {state['created']:>5} messages happened · {state['delivered']:>5} "
            f"delivered · {state['lost']:>4} webhooks lost · session {state['status']}"
        )


def _show_catch_up(console: Console, services: Services, channel: str, count: int) -> None:
    """Wait for the channel's `count`-th catch-up to end, and show it."""
    channel_id = services.database.channel(channel).id
    while True:
        with services.database.engine.connect() as connection:
            found = [
                job
                for job in jobs.latest_jobs(connection, 20, channel_id=channel_id)
                if job.kind == jobs.CATCH_UP
            ]
        if len(found) >= count and found[0].status != "running":
            break
        time.sleep(0.2)
    job = found[0]
    counters = job.counters
    console.print(
        f"catch-up {str(job.id)[:8]} {job.status}: since {job.since:%H:%M:%S} UTC, "
        f"{counters.get('created', 0):,} messages brought in, "
        f"{counters.get('duplicates', 0):,} already stored"
    )


def _verdict(
    console: Console, services: Services, channel: str, traffic: LiveTraffic, world: World
) -> bool:
    database = services.database
    target = database.channel(channel)
    history = {r.message["id"] for c in world.chats for r in world.messages(c) if not r.hidden}
    with database.engine.connect() as connection:
        stored = message_ids(connection, target.id)
    expected = history | set(traffic.created)
    missing = sorted(m for m in expected if not stored[m])
    doubled = sorted(m for m in expected if stored[m] > 1)
    exact = not missing and not doubled
    sessions = sessions_follow_the_rule(database.engine, target.id, target.session_timeout)
    console.rule("verdict")
    console.print(
        f"{len(traffic.created):,} live messages, {len(traffic.lost):,} of them never delivered "
        "as webhooks"
    )
    shown = "[green]every one stored exactly once[/]"
    if not exact:
        shown = f"[red]{len(missing):,} missing, {len(doubled):,} doubled[/] {missing[:3]}"
    console.print(f"messages: {shown}")
    rule = "[green]match[/]" if sessions else "[red]DIFFER[/]"
    console.print(f"stored sessions vs the session rule: {rule}")
    return exact and sessions
