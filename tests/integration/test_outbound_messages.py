"""Messages chatport sends, on both back ends: an agent's reply whose every send failed is
history, shown `failed` with its error in the API and the console, and sent once retried
from either."""

from __future__ import annotations

import httpx

from chatport.agent.delivery import AgentDeliverer
from chatport.bootstrap import build
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from tests.integration.test_agent_delivery import ECHO_AGENT, sends, settings_for, with_waha
from tests.integration.test_agent_safety import CHATS, bursts_in_chats
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
            shown = {m["text"]: m for chat in (first, second) for m in replies(http, key, chat)}
            sent = {message["body"]: message["id"] for message in config.sent}
            for text in ("you said: one", "you said: two"):
                assert (shown[text]["id"], shown[text]["send_state"]) == (sent[text], "sent")
            again = http.post(f"{path}/{sent['you said: one']}/retry", headers=headers)
            assert again.status_code == 409  # sent: nothing to retry
            console.close()
    services.close()
