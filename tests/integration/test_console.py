"""The web console over real HTTP, on both back ends: sign-in, tenant isolation, pages,
forms, and an import started, followed and retried from it. (The browser tests drive the
same pages in Chromium: tests/e2e/test_console_browser.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from sqlalchemy import select

from chatport.agent.delivery import AgentDeliverer
from chatport.bootstrap import Services, build
from chatport.domain.model import ContentType, Media, Origin
from chatport.ingest import import_jobs
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import Faults, SimulatorConfig
from chatport.simulator.world import World
from chatport.store import tenants
from chatport.store.channels import remember_waha
from chatport.store.tables import chats
from tests.builders import incoming
from tests.integration.test_agent_delivery import ECHO_AGENT, burst_with_job, with_agent
from tests.integration.test_bursts import CHAT as AGENT_CHAT
from tests.servers import serve_app
from tests.waiting import PATIENCE, eventually

CHAT = "5511988887777@c.us"


@dataclass
class Console:
    url: str
    keys: dict[str, str]
    services: Services

    def browser(self, tenant: str | None) -> httpx.Client:
        """A client signed in as `tenant` (None: not signed in); it sends `Origin` with every
        request, as browsers do with form posts."""
        client = httpx.Client(base_url=self.url, timeout=60, headers={"Origin": self.url})
        if tenant is not None:
            signed = client.post("/login", data={"api_key": self.keys[tenant], "next": "/"})
            assert signed.status_code == 303, signed.text
        return client


def history(services: Services) -> None:
    """Two sessions in CHAT (a 2-hour gap), one a photo; a burst answered by the agent."""
    database = services.database
    channel = database.channel()
    photo = incoming("m3", 121, CHAT, text="look")
    photo.content_type = ContentType.IMAGE
    photo.media = Media(mime="image/jpeg", filename="shelf.jpg", size=2048)
    batch = [
        incoming("m1", 0, CHAT, text="Olá, do you have blue ones?", chat_name="Maria Souza"),
        incoming("m2", 5, CHAT, text="Yes, size 42", from_me=True),
        photo,
    ]
    database.write_batch(channel, batch, origin=Origin.IMPORT)
    live = [incoming("m4", 125, CHAT, text="<b>bold?</b>")]
    database.write_batch(channel, live, origin=Origin.LIVE)
    burst_with_job(services, None)
    deliverer = AgentDeliverer(database, with_agent(services, ECHO_AGENT))
    assert deliverer.run_once() == 1
    deliverer.close()


@pytest.fixture
def console(database_url: str) -> Iterator[Console]:
    services = build(Settings(database_url=database_url, default_region="BR"))
    keys = {}
    with services.database.unit_of_work() as uow:
        for name in ("default", "globex"):
            tenant, _ = tenants.ensure_tenant(uow.connection, name)
            keys[name] = tenants.create_key(uow.connection, tenant, "console")
        uow.commit()
    history(services)
    with serve_app(services) as url:
        globex = httpx.Client(base_url=url, headers={"X-Api-Key": keys["globex"]}, timeout=PATIENCE)
        assert globex.post("/v1/channels", json={"name": "default"}).status_code == 201
        yield Console(url, keys, services)
    services.close()


def test_pages_need_a_signed_in_key_and_sign_in_sets_a_safe_cookie(console):
    anonymous = console.browser(None)
    page = anonymous.get("/channels/default?q=x")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/channels/default%3Fq%3Dx"
    assert anonymous.get("/imports/events").status_code == 303
    refused = anonymous.post("/login", data={"api_key": "cp_wrong", "next": "/"})
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    for target, landing in (("/agent-jobs", "/agent-jobs"), ("//evil.example/", "/")):
        data = {"api_key": console.keys["default"], "next": target}
        signed = anonymous.post("/login", data=data)
        assert signed.status_code == 303 and signed.headers["location"] == landing
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert anonymous.get("/").status_code == 200
    cross_site = anonymous.post("/logout", headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    proxied = {"Origin": "https://crm.example", "X-Forwarded-Host": "crm.example"}
    assert anonymous.post("/login", headers=proxied, data=data).status_code == 303
    assert anonymous.post("/logout").status_code == 303  # the cookie is deleted
    assert anonymous.get("/").status_code == 303


def test_channels_chats_and_search(console):
    acme = console.browser("default")
    channels = acme.get("/").text
    assert '<a href="/channels/default">default</a>' in channels
    chats_page = acme.get("/channels/default").text
    assert "Maria Souza" in chats_page and "+5511988887777" not in chats_page
    numbers = ("+55 (11) 98888-7777", "(011) 98888-7777", "11 98888 7777", "+55 11 8888-7777")
    for query in ("maria", *numbers, "88887777"):
        found = acme.get("/channels/default", params={"q": query}).text
        assert CHAT in found, query
    assert CHAT not in acme.get("/channels/default", params={"q": "nobody"}).text
    unread = acme.get("/channels/default", params={"unread": "true"}).text
    assert CHAT in unread  # m4 came live
    assert acme.get("/channels/default", params={"cursor": "garbage"}).status_code == 400
    assert acme.get("/channels/nope").status_code == 404


def test_a_conversation_shows_its_sessions_media_and_agent_replies(console):
    acme = console.browser("default")
    page = acme.get(f"/channels/default/chats/{CHAT}").text
    assert page.count('class="session-head"') == 2
    assert "1 h 56 min later" in page  # m2 (minute 5) to m3 (minute 121)
    assert "Photo" in page and "shelf.jpg" in page and "2.0 KB" in page
    assert "&lt;b&gt;bold?&lt;/b&gt;" in page and "<b>bold?</b>" not in page
    assert re.search(r"Session .*\n.*· 2 messages", page)
    agent = acme.get(f"/channels/default/chats/{AGENT_CHAT}").text
    assert "AI agent" in agent and "you said: Hi / I want / to order" in agent
    jobs = acme.get("/agent-jobs").text
    assert "replied" in jobs and "I want" in jobs and "you said:" in jobs
    assert "you said:" not in acme.get("/agent-jobs", params={"status": "failed"}).text

    read = acme.post(f"/channels/default/chats/{CHAT}/read")
    assert read.status_code == 303
    with console.services.database.engine.connect() as connection:
        count = connection.execute(select(chats.c.unread_count).where(chats.c.chat_id == CHAT))
        assert count.scalar() == 0


def test_another_tenant_sees_nothing_of_this_one(console):
    globex = console.browser("globex")
    own = globex.get("/channels/default")
    assert own.status_code == 200 and CHAT not in own.text  # globex's own empty channel
    assert globex.get(f"/channels/default/chats/{CHAT}").status_code == 404
    assert globex.post(f"/channels/default/chats/{CHAT}/read").status_code == 404
    assert "you said" not in globex.get("/agent-jobs").text
    assert "Maria" not in globex.get("/").text


WORLD = World(chats=30, messages=2_000, seed=9)
BROKEN = WORLD.chats[2].id


def stream(client: httpx.Client, path: str) -> list[tuple[str, dict]]:
    with client.stream("GET", path) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        blocks = response.read().decode().split("\n\n")
    found = []
    for block in filter(str.strip, blocks):
        name, data = block.split("\n", 1)
        found.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return found


def test_an_import_is_started_followed_and_retried_from_the_console(database_url):
    services = build(Settings(database_url=database_url, allow_private_urls=True))
    with services.database.unit_of_work() as uow:
        key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "acme")[0])
        other = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "b")[0])
        uow.commit()
    faults = Faults(failing_chats={BROKEN})
    config = SimulatorConfig(world=WORLD, faults=faults)
    with simulator_in_thread(config) as waha, serve_app(services) as url:
        api = httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=PATIENCE)
        channel = {"name": "shop", "waha_url": waha, "waha_session": "default"}
        assert api.post("/v1/channels", json=channel).status_code == 201
        console = Console(url, {"acme": key, "b": other}, services)
        acme = console.browser("acme")
        assert "Import history from WAHA" in acme.get("/channels/shop").text
        bad = acme.post("/channels/shop/imports", data={"days": "many"})
        assert bad.status_code == 422 and "whole number" in bad.text
        started = acme.post("/channels/shop/imports", data={"days": "", "chat_id": ""})
        assert started.status_code == 303
        job_path = started.headers["location"]
        assert console.browser("b").get(job_path).status_code == 404
        assert console.browser("b").get(job_path + "/events").status_code == 404
        events = stream(acme, job_path + "/events")
        assert events[-1][0] == "end" and events[-1][1]["status"] == "failed_chats"
        progress = [data for name, data in events if name == "progress"]
        assert progress and {"percent", "messages_per_second", "eta_seconds"} <= set(progress[0])
        page = acme.get(job_path).text
        assert "Retry failed chats" in page and BROKEN in page and 'value="100"' in page
        assert "failed chats" in acme.get("/imports").text

        faults.failing_chats.clear()
        assert acme.post(job_path + "/retry").headers["location"] == job_path
        assert stream(acme, job_path + "/events")[-1][1]["status"] == "completed"

        def completed() -> str | None:
            text = acme.get(job_path).text
            return text if "completed" in text else None

        page = eventually(completed, "the job page shows the job completed", every=0.1)
        assert "Retry failed chats" not in page
        again = acme.post(job_path + "/retry")
        assert again.status_code == 303 and "error=" in again.headers["location"]
        assert "no failed chats" in acme.get(again.headers["location"]).text
    services.close()


def test_a_job_run_by_another_process_shows_its_checkpoint_and_resume_says_why_not(console):
    services = console.services
    channel = services.database.channel()
    with services.database.unit_of_work() as uow:
        remember_waha(
            uow.connection,
            channel,
            "http://127.0.0.1:9",
            "default",
            None,
            secrets=services.database.secrets,
        )
        uow.commit()
    job = import_jobs.create_job(services.database, channel, None, datetime.now(UTC), {})
    acme = console.browser("default")
    page = acme.get(f"/imports/{job.id}").text
    assert "Running in another process" in page and 'data-refresh-seconds="5"' in page
    resumed = acme.post(f"/imports/{job.id}/resume")
    assert resumed.status_code == 303
    refused = acme.get(resumed.headers["location"]).text
    assert "is running in" in refused and 'role="alert"' in refused
    assert console.browser("globex").post(f"/imports/{job.id}/resume").status_code == 404


def test_long_lists_page_with_links(console):
    database = console.services.database
    many = [incoming(f"c{n}", n, f"55119777{n:05d}@c.us", text=f"hi {n}") for n in range(55)]
    long_chat = [incoming(f"l{n}", n, CHAT, text=f"line {n}") for n in range(1000, 1260)]
    database.write_batch(database.channel(), many + long_chat, origin=Origin.IMPORT)
    acme = console.browser("default")
    first = acme.get("/channels/default").text
    assert first.count("<tr") == 1 + 50  # the header and a page of chats
    older = re.search(r'href="(\?q=&amp;cursor=[^"]+)" rel="next"', first)
    rest = acme.get("/channels/default" + older.group(1).replace("&amp;", "&")).text
    assert rest.count("<tr") == 1 + 55 + 2 - 50  # 55 new, CHAT and the agent's chat
    assert 'rel="next"' not in rest and "Latest chats" in rest

    latest = acme.get(f"/channels/default/chats/{CHAT}").text
    assert "line 1259" in latest and "line 1060" in latest and "line 1059" not in latest
    earlier = re.search(r'href="\?cursor=([^"]+)" rel="prev"', latest).group(1)
    before = acme.get(f"/channels/default/chats/{CHAT}", params={"cursor": earlier}).text
    assert "line 1059" in before and "line 1000" in before and "Olá" in before
    assert "line 1060" not in before and "Latest messages" in before
