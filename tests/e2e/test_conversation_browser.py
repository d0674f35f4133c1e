"""A conversation in a real browser (headless Chromium, Playwright) against `chatport serve`:
the customer's bubbles appear as they arrive, with the contact's name; a colleague replies with
the composer, the message shows as the team's and turns `sent` once WAHA took it; the bot is
switched from the page; the chat list moves a chat with a new message to the top; nothing is
blocked by the content security policy."""

from __future__ import annotations

import httpx

from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from tests.e2e.browser import artifacts_dir, chromium  # noqa: F401 - the fixture
from tests.e2e.test_cli import CHATPORT
from tests.e2e.test_console_browser import accessible, key_for
from tests.integration.conftest import WEBHOOK_KEY
from tests.integration.test_lids import inbound_from
from tests.integration.test_webhooks_api import delivery, post
from tests.servers import chatport_serve
from tests.waiting import PATIENCE, eventually

CHAT, OTHER = "5511966660006@c.us", "5511977770007@c.us"


def test_a_conversation_lives_in_the_browser(chromium, tmp_path) -> None:  # noqa: F811
    shots = artifacts_dir("conversation")
    database_url = f"sqlite:///{tmp_path / 'live.db'}"
    key = key_for(database_url, "default")
    env = {"CHATPORT_WEBHOOK_HMAC_KEY": WEBHOOK_KEY, "CHATPORT_ALLOW_PRIVATE_URLS": "true"}
    config = SimulatorConfig(world=World(chats=2, messages=10, seed=1))
    with (
        simulator_in_thread(config) as waha,
        chatport_serve(CHATPORT, database_url, env) as (
            base,
            _,
        ),
    ):
        headers = {"X-Api-Key": key}
        made = httpx.post(
            f"{base}/v1/channels",
            json={"name": "shop", "waha_url": waha, "waha_session": "default"},
            headers=headers,
            timeout=PATIENCE,
        )
        assert made.status_code == 201, made.text

        def customer(chat: str, n: int) -> None:
            bubble = inbound_from(chat, n, _data={"pushName": "Maria Souza"}, body=f"olá {n}")
            answer = post(base, delivery("message", bubble, f"{chat}-{n}"), channel="shop")
            assert answer.status_code == 200, answer.text

        customer(CHAT, 1)
        customer(OTHER, 1)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(f"{base}/login?next=/channels/shop/chats/{CHAT}")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/channels/shop/chats/*")
        accessible(page)
        assert page.locator(".message.in .who").first.inner_text().strip() == "Maria Souza"

        page.locator('ol.sessions[data-live="open"]').wait_for()  # following the chat
        customer(CHAT, 2)  # arrives while the page is open
        page.get_by_text("olá 2").wait_for(timeout=PATIENCE * 1000)
        page.get_by_label("Reply as the team").fill("Hi Maria, Ana here")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url(f"{base}/channels/shop/chats/*")
        mine = page.locator(".message.out").filter(has_text="Hi Maria, Ana here")
        mine.locator(".send-state.sent").wait_for(timeout=PATIENCE * 1000)
        assert "team" in mine.inner_text()
        assert [sent["body"] for sent in config.sent] == ["Hi Maria, Ana here"]
        assert "Bot paused" in page.locator("#bot-state").inner_text()  # the handoff
        page.get_by_label("Set the bot").select_option("on")
        page.get_by_role("button", name="Set bot").click()
        page.wait_for_url(f"{base}/channels/shop/chats/*")
        assert "Bot on" in page.locator("#bot-state").inner_text()
        page.screenshot(path=shots / "conversation-live.png", full_page=True)

        page.goto(f"{base}/channels/shop")
        rows = page.locator("table.chats tbody tr")
        assert rows.first.get_attribute("data-chat") == CHAT
        page.locator('tbody[data-live="open"]').wait_for()
        customer(OTHER, 2)  # the other chat moves to the top, live
        eventually(lambda: rows.first.get_attribute("data-chat") == OTHER, "the chat list moved")
        assert "olá 2" in rows.first.inner_text()
        assert refused == []
        page.screenshot(path=shots / "chats-live.png", full_page=True)
        context.close()
