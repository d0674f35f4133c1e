"""`chatport serve` as a user runs it: health, a signed WAHA webhook, metrics, OpenAPI."""

from __future__ import annotations

import httpx
import orjson

from chatport.sources.waha.webhooks import sign
from tests.e2e.test_cli import CHATPORT
from tests.servers import chatport_serve
from tests.waiting import PATIENCE


def test_serve_takes_signed_webhooks_and_reports_them(database_url: str) -> None:
    env = {"CHATPORT_WEBHOOK_HMAC_KEY": "my-secret-key", "CHATPORT_SECRET_KEY": ""}
    with (
        chatport_serve(CHATPORT, database_url, env) as (base, server),
        httpx.Client(timeout=PATIENCE) as http,
    ):
        health = http.get(f"{base}/healthz")
        assert health.json()["status"] == "ok"
        body = orjson.dumps(
            {
                "id": "evt_1",
                "timestamp": 1741249702485,
                "event": "message",
                "session": "default",
                "engine": "NOWEB",
                "payload": {
                    "id": "false_5511999990001@c.us_AAA",
                    "timestamp": 1741249700,
                    "from": "5511999990001@c.us",
                    "fromMe": False,
                    "body": "hello",
                },
            }
        )
        headers = sign(body, "my-secret-key") | {"content-type": "application/json"}
        posted = http.post(f"{base}/webhooks/waha", content=body, headers=headers)
        assert posted.status_code == 200 and posted.json() == {"outcome": "stored"}
        unsigned = http.post(f"{base}/webhooks/waha", content=body)
        assert unsigned.status_code == 401
        metrics = http.get(f"{base}/metrics").text
        assert 'chatport_webhooks_received_total{event="message"} 1.0' in metrics
        assert 'chatport_webhooks_rejected_total{reason="signature"} 1.0' in metrics
        assert 'chatport_messages_written_total{origin="live"} 1.0' in metrics
        spec = http.get(f"{base}/openapi.json").json()
        assert {"/webhooks/waha", "/healthz", "/metrics"} <= set(spec["paths"])
    log = server.stderr.read()
    # uvicorn shuts down gracefully (the live writer drains), then re-raises the signal
    assert "Application shutdown complete" in log and server.returncode in (0, -15), log
    # warned once at start (not per worker): no CHATPORT_SECRET_KEY; webhooks are signed
    assert log.count("CHATPORT_SECRET_KEY is not set") == 1, log
    assert "unsigned webhooks" not in log
