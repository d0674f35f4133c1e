"""The web console in a real browser (headless Chromium, Playwright): sign in, start an
import from the simulator and watch its progress bar reach 100 %, retry a failed chat once
WAHA heals, open a chat and see its sessions; on a desktop and a phone screen; the content
security policy blocks nothing the pages use; an import cancelled, the channel's settings
changed and the channel deleted after a confirmation step. Screenshots go to
test-artifacts/console/."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select

from chatport.bootstrap import build_database
from chatport.settings import Settings
from chatport.simulator.runner import simulator_process
from chatport.simulator.world import World
from chatport.store.jobs import import_jobs as jobs
from chatport.store.tables import sessions
from tests.e2e.browser import artifacts_dir, chromium  # noqa: F401 - the fixture
from tests.e2e.test_cli import CHATPORT, run
from tests.servers import chatport_serve, free_port
from tests.waiting import PATIENCE, eventually

WORLD = World(chats=60, messages=6_000, seed=11)
BROKEN = WORLD.chats[4].id


def simulator(port: int, *flags: str):
    options = ["--chats", "60", "--messages", "6000", "--seed", "11", *flags]
    return simulator_process(port, *options, command=CHATPORT)


def key_for(database_url: str, tenant: str) -> str:
    created = run("keys", "create", "--tenant", tenant, "--db", database_url)
    assert created.returncode == 0, created.stderr
    return next(word for word in created.stdout.split() if word.startswith("cp_"))


def busiest_chat(database_url: str) -> tuple[str, int]:
    """The 1:1 chat with the most sessions that fits one page of messages, and how many
    sessions it has."""
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            count = func.count().label("n")
            query = (
                select(sessions.c.chat_id, count)
                .where(sessions.c.chat_id.like("%@c.us"))
                .group_by(sessions.c.chat_id)
                .having(func.sum(sessions.c.message_count) <= 200)
                .order_by(count.desc(), sessions.c.chat_id)
            )
            return tuple(connection.execute(query).first())
    finally:
        database.dispose()


def interrupted_job(database_url: str) -> str:
    """A new import job of channel `shop` (tenant `acme`), interrupted: its id."""
    database = build_database(Settings(database_url=database_url))
    try:
        channel = database.channel("shop", "acme")
        with database.unit_of_work() as uow:
            job = jobs.create_job(
                uow.connection,
                tenant_id=channel.tenant_id,
                channel_id=channel.id,
                source="waha",
                params={},
                since=None,
                until=None,
            )
            jobs.finish_job(uow.connection, job, "interrupted", "stopped before the end")
            uow.commit()
        return str(job.id)
    finally:
        database.dispose()


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => e.type !== 'hidden' && !(e.labels && e.labels.length)
                   && !e.getAttribute('aria-label') && !e.textContent.trim())
    .map((e) => e.outerHTML)"""


def accessible(page) -> None:
    """Every form control of the page has a name a screen reader can say, the page has a
    language, a main landmark and one h1."""
    assert page.evaluate(UNNAMED_CONTROLS) == [], page.url
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("main").count() == 1 and page.locator("h1").count() == 1, page.url


def watch_progress(page, seconds: float = 120) -> list[float]:
    """The progress bar's values, read every 50 ms until the job page shows its end."""
    seen: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = page.evaluate(
            """() => { const bar = document.querySelector('#bar');
                       const box = document.querySelector('#progress');
                       return bar && box ? [bar.hasAttribute('value') ? bar.value : -1,
                                            box.dataset.ended || ''] : [-1, 'reloading']; }"""
        )
        seen.append(state[0])
        if state[1] and state[1] != "reloading":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the import did not end; bar values {seen[-20:]}")


def test_import_progress_retry_and_a_conversation_in_chromium(chromium, tmp_path) -> None:  # noqa: F811
    shots = artifacts_dir("console")
    database_url = f"sqlite:///{tmp_path / 'console.db'}"
    key, other_key = key_for(database_url, "acme"), key_for(database_url, "globex")
    port = free_port()
    private_ok = {"CHATPORT_ALLOW_PRIVATE_URLS": "true"}  # the tenant's WAHA is on loopback
    with chatport_serve(CHATPORT, database_url, private_ok) as (base, _):
        with simulator(port, "--latency-ms", "60", "--failing-chat", BROKEN) as waha:
            channel = {"name": "shop", "waha_url": waha, "waha_session": "default"}
            made = httpx.post(
                f"{base}/v1/channels", json=channel, headers={"X-Api-Key": key}, timeout=PATIENCE
            )
            assert made.status_code == 201, made.text

            context = chromium.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            refused = []  # what the content security policy blocked: nothing, we hope
            page.on(
                "console",
                lambda message: (
                    refused.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.goto(f"{base}/")
            assert page.url.startswith(f"{base}/login")
            page.get_by_label("API key").fill("cp_wrong")
            page.get_by_role("button", name="Sign in").click()
            assert "unknown or revoked" in page.get_by_role("alert").inner_text()
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/")
            accessible(page)
            page.get_by_role("link", name="shop").click()
            page.wait_for_url(f"{base}/channels/shop")
            accessible(page)
            page.get_by_text("Import history from WAHA").click()
            page.get_by_role("button", name="Start import").click()
            page.wait_for_url(f"{base}/imports/*")
            job_url = page.url
            # polled from here: wait_for_function evaluates a string, which the CSP forbids
            eventually(
                lambda: page.evaluate("document.querySelector('#bar').value") > 0,
                "the progress bar moved",
            )
            accessible(page)
            page.screenshot(path=shots / "import-running.png", full_page=True)
            seen = watch_progress(page)
            assert any(0 < value < 100 for value in seen), seen  # it moved while running
            assert seen[-1] == 100, seen
            page.wait_for_load_state()
            page.get_by_role("button", name="Retry failed chats").wait_for()
            assert BROKEN in page.locator(".failed").inner_text()
            page.screenshot(path=shots / "import-failed-chat.png", full_page=True)

        with simulator(port):  # WAHA healed: retry fetches the failed chat only
            page.get_by_role("button", name="Retry failed chats").click()
            seen = watch_progress(page)
            assert seen[-1] == 100
            page.wait_for_load_state()
            page.get_by_text("completed").first.wait_for()
            assert page.get_by_role("button", name="Retry failed chats").count() == 0
            assert "None." in page.locator("#failed-title + p").inner_text()
            page.screenshot(path=shots / "import-completed.png", full_page=True)

        chat_id, session_count = busiest_chat(database_url)
        page.goto(f"{base}/channels/shop")
        page.get_by_label("Search chats by name or number").fill("+" + chat_id.split("@")[0])
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(lambda url: "q=" in url)
        rows = page.locator("table.chats tbody tr")
        assert rows.count() == 1
        rows.first.get_by_role("link").click()
        page.wait_for_url(f"{base}/channels/shop/chats/*")
        heads = page.locator(".session-head")
        heads.first.wait_for()
        assert heads.count() == session_count > 1
        assert heads.first.inner_text().startswith("Session")
        accessible(page)
        # console.js ran under the policy: it gave each time its local form (the UTC text
        # moved to the title)
        assert page.locator("time[datetime]").first.get_attribute("title")
        assert refused == []
        page.screenshot(path=shots / "conversation.png", full_page=True)
        page.goto(f"{base}/agent-jobs")
        accessible(page)

        phone = chromium.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
        small = phone.new_page()
        small.goto(f"{base}/login?next=/channels/shop")
        small.get_by_label("API key").fill(key)
        small.get_by_role("button", name="Sign in").click()
        small.wait_for_url(f"{base}/channels/shop")
        for path in ("/channels/shop", job_url.removeprefix(base), "/"):
            small.goto(base + path)
            overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, overflow)
        small.goto(f"{base}/channels/shop")
        small.screenshot(path=shots / "chats-phone.png", full_page=True)

        stranger = chromium.new_context().new_page()
        stranger.goto(f"{base}/login?next={job_url.removeprefix(base)}")
        stranger.get_by_label("API key").fill(other_key)
        stranger.get_by_role("button", name="Sign in").click()
        assert "no such import job" in stranger.get_by_role("alert").inner_text()
        stranger.goto(f"{base}/channels/shop")
        assert "no channel" in stranger.get_by_role("alert").inner_text()

        # an interrupted import cancelled; the channel's settings changed, then the channel
        # deleted, after a confirmation step
        interrupted = interrupted_job(database_url)
        page.goto(f"{base}/imports/{interrupted}")
        page.get_by_role("button", name="Cancel import").click()
        page.wait_for_url(f"{base}/imports/{interrupted}")
        page.get_by_text("cancelled").first.wait_for()
        assert page.get_by_role("button", name="Cancel import").count() == 0
        page.goto(f"{base}/channels/shop")
        page.get_by_role("link", name="Settings").click()
        page.wait_for_url(f"{base}/channels/shop/settings")
        accessible(page)
        page.get_by_label("Handoff, minutes").fill("7")
        page.get_by_label("Agent in group chats").select_option("on")
        page.get_by_role("button", name="Save settings").click()
        page.get_by_role("status").wait_for()
        assert page.get_by_label("Handoff, minutes").input_value() == "7"
        assert page.get_by_label("Agent in group chats").input_value() == "on"
        page.screenshot(path=shots / "channel-settings.png", full_page=True)
        page.get_by_role("link", name="Delete channel…").click()
        page.wait_for_url(f"{base}/channels/shop/delete")
        accessible(page)
        page.get_by_label("Type the channel's name").fill("shopp")
        page.get_by_role("button", name="Delete channel for good").click()
        assert "type the channel's name exactly" in page.get_by_role("alert").inner_text()
        page.get_by_label("Type the channel's name").fill("shop")
        page.get_by_role("button", name="Delete channel for good").click()
        page.wait_for_url(f"{base}/")
        assert page.get_by_role("link", name="shop", exact=True).count() == 0
        assert refused == []
        context.close()
        phone.close()
