"""The live mode from the command line: `chatport simulate waha --live-rate … --webhook-url …`
posting signed webhooks, `chatport simulate control` dropping them and the session, and
`chatport demo --live` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Route

from chatport.simulator.runner import simulator_process
from tests.e2e.test_cli import CHATPORT, run
from tests.integration.test_simulator_live import KEY, Receiver
from tests.servers import free_port, serve_asgi
from tests.waiting import eventually


def control(url: str, *args: str) -> dict:
    done = run("simulate", "control", *args, "--url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_simulate_waha_live_posts_signed_webhooks_and_takes_orders() -> None:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.receive, methods=["POST"])])
    with serve_asgi(app) as hooks:
        options = ["--chats", "20", "--messages", "300", "--live-rate", "50"]
        options += ["--webhook-url", f"{hooks}/hook", "--hmac-key", KEY]
        with simulator_process(free_port(), *options, command=CHATPORT) as url:
            eventually(lambda: len(receiver.events("message.any")) >= 10, "live webhooks")
            dropped = control(url, "drop-session", "--seconds", "0.5")
            assert dropped["status"] == "STARTING"
            eventually(
                lambda: (
                    [e["payload"]["status"] for e in receiver.events("session.status")]
                    == ["STARTING", "WORKING"]
                ),
                "the session drops and works again",
            )
            made = control(url, "messages", "--count", "3")
            assert len(made["created"]) <= 3
            state = control(url, "status")
    assert state["status"] == "WORKING" and state["created"] >= 10 and state["lost"] > 0


def test_demo_live_shows_the_catch_ups_end_to_end(tmp_path: Path) -> None:
    options = ["--chats", "30", "--messages", "1000", "--live-rate", "30", "--outage-seconds", "1"]
    done = run("demo", "--live", *options, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every one stored exactly once" in done.stdout
    assert done.stdout.count("catch-up ") >= 2 and "match" in done.stdout
