"""Messages chatport sends, on both back ends: an agent's reply is history at once, with a
send state, and sent once WAHA can (WAHA's echo is the same row, even when it comes before
WAHA's answer); one whose every send failed is shown `failed` with its error in the API and
the console, and sent once retried from either."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from chatport.agent.delivery import AgentDeliverer
from chatport.bootstrap import build
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from chatport.store.tables import bursts
from tests.agents import agent_messages, reads_messages, sends, with_waha
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_agent_delivery import (
    CALLS,
    ECHO_AGENT,
    burst_with_job,
    job_row,
    settings_for,
)
from tests.integration.test_agent_safety import CHATS, bursts_in_chats
from tests.integration.test_bursts import CHAT
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import serve_app
from tests.waiting import PATIENCE, eventually


def api_key(database) -> str:
    with database.unit_of_work() as uow:
        tenant, _ = tenants.ensure_tenant(uow.connection, "default")
        key = tenants.create_key(uow.connection, tenant)
        uow.commit()
    return key


def replies(http: httpx.Client, key: str, chat: str) -> list[dict]:
    path = f"/v1/channels/default/chats/{chat}/messages"
    found = http.get(path, headers={"X-Api-Key": key}).json()["items"]
    return [message for message in found if message["from_me"]]


def test_a_failed_send_is_shown_and_retried_from_the_api_and_the_console(database_url) -> None:
    settings = settings_for(database_url).model_copy(update={"agent_url": ECHO_AGENT})
    services = build(settings)
    database = services.database
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1), status="STOPPED")
    first, second = CHATS[:2]
    with simulator_in_thread(config) as waha:
        with_waha(database, waha)
        bursts_in_chats(services, {first: "one", second: "two"})
        deliverer = AgentDeliverer(database, settings, max_attempts=1)
        deliverer.run_once()  # the one attempt of each fails: WAHA's session is stopped
        deliverer.close()
        assert [row[0] for row in sends(database)] == ["failed", "failed"]
        key = api_key(database)
        config.status = "WORKING"
        with serve_app(services) as api, httpx.Client(base_url=api, timeout=PATIENCE) as http:
            [reply] = replies(http, key, first)
            assert (reply["text"], reply["origin"]) == ("you said: one", "agent")
            assert reply["send_state"] == "failed" and "HTTP 422" in reply["send_error"]
            headers = {"X-Api-Key": key}
            path = f"/v1/channels/default/chats/{first}/messages"
            assert http.post(f"{path}/b0/retry", headers=headers).status_code == 404  # inbound
            retried = http.post(f"{path}/{reply['id']}/retry", headers=headers)
            assert retried.json() == {"id": reply["id"], "send_state": "pending"}
            console = httpx.Client(base_url=api, timeout=PATIENCE, headers={"Origin": api})
            console.post("/login", data={"api_key": key, "next": "/"})
            page = console.get(f"/channels/default/chats/{second}").text
            assert "not sent" in page and "Send again" in page and "HTTP 422" in page
            [other] = replies(http, key, second)
            form = f"/channels/default/chats/{second}/messages/{other['id']}/retry"
            assert console.post(form).status_code == 303
            eventually(lambda: len(config.sent) == 2, "both were sent, once retried")

            def shown_now() -> dict[str, dict]:
                return {m["text"]: m for chat in (first, second) for m in replies(http, key, chat)}

            eventually(  # WAHA has them a moment before their state says so
                lambda: all(m["send_state"] == "sent" for m in shown_now().values()),
                "both are marked sent",
            )
            shown = shown_now()
            sent = {message["body"]: message["id"] for message in config.sent}
            for text in ("you said: one", "you said: two"):
                assert (shown[text]["id"], shown[text]["send_state"]) == (sent[text], "sent")
            again = http.post(f"{path}/{sent['you said: one']}/retry", headers=headers)
            assert again.status_code == 409  # sent: nothing to retry
            console.close()
    services.close()


def test_a_reply_is_history_at_once_and_sent_when_waha_can(database_url) -> None:
    CALLS.clear()
    counting = "python:tests.integration.test_agent_delivery:counting_agent"
    settings = settings_for(database_url).model_copy(
        update={"webhook_hmac_key": WEBHOOK_KEY, "agent_url": counting}
    )
    services = build(settings)
    database = services.database
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1), api_key="waha-key")
    with simulator_in_thread(config) as waha:
        with_waha(database, waha)
        burst_with_job(services, None)
        config.status = "STOPPED"  # WAHA cannot send: the reply is history all the same
        deliverer = AgentDeliverer(database, services.settings)
        deliverer.run_once()
        job = job_row(database)
        assert (job.status, job.reply) == ("replied", "On its way!")
        pending = f"chatport-agent-{job.id}"
        assert agent_messages(database) == [(pending, "On its way!")] and config.sent == []
        [(state, attempts, error, sent_id, _)] = sends(database)
        assert (state, attempts, sent_id) == ("pending", 1, None) and "HTTP 422" in error
        with serve_app(services) as api:  # the API shows it, with its send state
            listed = reads_messages(api, database)
            assert (listed[0]["id"], listed[0]["send_state"]) == (pending, "pending")
            assert "HTTP 422" in listed[0]["send_error"]
        config.status = "WORKING"
        deliverer.run_once(datetime.now(UTC) + timedelta(minutes=10))  # the send's retry
        deliverer.close()
    assert len(CALLS) == 1  # the agent was not asked twice
    [sent] = config.sent
    assert (sent["to"], sent["body"]) == (CHAT, "On its way!")
    assert sends(database) == [("sent", 2, None, sent["id"], sent["id"])]
    assert agent_messages(database) == [(sent["id"], "On its way!")]  # WAHA's id now
    # WAHA echoes the sent message by webhook while a new burst is open: no second message,
    # and no human takeover
    with serve_app(services) as api:
        bubble = inbound_from(CHAT, 7)
        assert post(api, delivery("message", bubble, "new-bubble")).status_code == 200
        echo = {**sent, "timestamp": sent["timestamp"], "fromMe": True}
        assert post(api, delivery("message.any", echo, "echo")).status_code == 200
        shown = {m["id"]: m["send_state"] for m in reads_messages(api, database)}
        assert shown[sent["id"]] == "sent" and shown[bubble["id"]] is None
    with database.engine.connect() as connection:
        open_bursts = connection.execute(
            select(bursts.c.taken_over_at).where(bursts.c.status == "open")
        ).all()
    assert agent_messages(database) == [(sent["id"], "On its way!")]
    assert [tuple(b) for b in open_bursts] == [(None,)]
    services.close()


def test_an_echo_that_comes_before_the_send_is_answered_is_the_same_row(database_url) -> None:
    """WAHA sent the reply, but its answer was lost (a timeout): its echo by webhook, same
    chat and text, becomes the pending message, which is then sent, and not sent again."""
    settings = settings_for(database_url).model_copy(
        update={"webhook_hmac_key": WEBHOOK_KEY, "agent_url": ECHO_AGENT}
    )
    services = build(settings)
    database = services.database
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1), status="STOPPED")
    with simulator_in_thread(config) as waha:
        with_waha(database, waha)
        burst_with_job(services, None)
        deliverer = AgentDeliverer(database, services.settings)
        deliverer.run_once()
        text = "you said: Hi / I want / to order"
        assert agent_messages(database) == [(f"chatport-agent-{job_row(database).id}", text)]
        echo = {
            "id": f"true_{CHAT}_3EB0ECHO",
            "timestamp": int(datetime.now(UTC).timestamp()),
            "from": "5511888880000@c.us",
            "to": CHAT,
            "fromMe": True,
            "source": "api",
            "body": text,
        }
        with serve_app(services) as api:
            assert post(api, delivery("message.any", echo, "echo-1")).status_code == 200
        config.status = "WORKING"
        assert deliverer.run_once(datetime.now(UTC) + timedelta(minutes=10)) == 0  # sent
        deliverer.close()
    assert config.sent == []
    assert agent_messages(database) == [(echo["id"], text)]
    assert [row[0] for row in sends(database)] == ["sent"]
    services.close()
