"""Issue 24: every malformed input is a 4xx with a reason (and a bounded dead letter when its
caller passed the signature check), never a 5xx; the console and the push route give nothing
away. One test per reproduced bug, over real HTTP, on both back ends."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from chatport.bootstrap import Services, build
from chatport.settings import Settings
from chatport.sources.waha.webhooks import sign
from chatport.store import tenants
from chatport.store.tables import dead_letters, messages
from tests.integration.test_baileys_import import history
from tests.integration.test_webhooks_api import delivery, inbound
from tests.servers import serve_app

KEY = "edge-key"
CHAT = "5511999990001@c.us"


@dataclass
class Api:
    url: str
    api_key: str
    services: Services

    def post(self, body: bytes, signed: bool = True, **params: str) -> httpx.Response:
        headers = {"content-type": "application/json", **(sign(body, KEY) if signed else {})}
        return httpx.post(
            f"{self.url}/webhooks/waha", content=body, headers=headers, params=params, timeout=60
        )

    def v1(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Api-Key": self.api_key}, timeout=60)

    def console(self) -> httpx.Client:
        """Signed in to the console as the default tenant (forms posted with our Origin)."""
        client = httpx.Client(base_url=self.url, timeout=60, headers={"Origin": self.url})
        assert client.post("/login", data={"api_key": self.api_key}).status_code == 303
        return client

    def letters(self) -> list:
        with self.services.database.engine.connect() as connection:
            return connection.execute(select(dead_letters).order_by(dead_letters.c.id)).all()


@contextmanager
def serve(database_url: str, **settings) -> Iterator[Api]:
    """The API over a fresh copy of `database_url` with `settings`, and a key for the
    default tenant."""
    services = build(Settings(database_url=database_url, **settings))
    with services.database.unit_of_work() as uow:
        tenant, _ = tenants.ensure_tenant(uow.connection, "default")
        api_key = tenants.create_key(uow.connection, tenant, "edge")
        uow.commit()
    try:
        with serve_app(services) as url:
            yield Api(url, api_key, services)
    finally:
        services.close()


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    """The API with a global webhook key (`KEY`)."""
    with serve(database_url, webhook_hmac_key=KEY) as served:
        yield served


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    with serve(sqlite_url, webhook_hmac_key=KEY) as served:
        yield served


def deep(levels: int) -> bytes:
    payload = b"[" * levels + b"]" * levels
    return b'{"id":"deep","event":"message","session":"default","payload":' + payload + b"}"


def test_json_nested_5000_deep_is_refused_before_parsing_when_unsigned_and_400_when_signed(api):
    unsigned = api.post(deep(5000), signed=False)
    assert unsigned.status_code == 401 and api.letters() == []  # the signature comes first
    signed = api.post(deep(5000))
    assert signed.status_code == 400 and "nested deeper than 64" in signed.json()["detail"]
    assert api.post(deep(100)).status_code == 400  # under the parser's limit, over ours
    assert len(api.letters()) == 2


def test_invalid_utf8_inside_a_signed_payload_is_a_400_kept(api):
    body = delivery("message", {**inbound(1), "body": "@@"}, "bad-utf8")
    body = body.replace(b'"@@"', b'"\xff\xfe caf\xe9"')
    answer = api.post(body)
    assert answer.status_code == 400 and "UTF-8" in answer.json()["detail"]
    (letter,) = api.letters()
    assert letter.payload_bytes == len(body) and "\ufffd" in letter.payload


def test_a_nul_in_a_chat_id_is_a_422_kept(api):
    body = delivery("message", {**inbound(1), "from": "5511999990001\x00@c.us"}, "nul-chat")
    answer = api.post(body)
    assert answer.status_code == 422 and "NUL" in answer.json()["detail"]
    assert len(api.letters()) == 1
    edit = {**inbound(2), "editedMessageId": "X", "from": "55\x0011@c.us", "body": "x"}
    assert api.post(delivery("message.edited", edit, "nul-edit")).status_code == 422


def test_an_ack_out_of_range_is_a_422_kept(api):
    own = {**inbound(1), "fromMe": True, "to": CHAT, "from": "5511888880000@c.us"}
    own["id"] = f"true_{CHAT}_3EB0ACK"
    assert api.post(delivery("message.any", own, "stored")).status_code == 200
    odd = [2**40, 2**63 + 5, 2**63 - 1, -(2**63), 5, -2, True, "3"]
    for n, ack in enumerate(odd):
        body = json.dumps(
            {"id": f"ack{n}", "event": "message.ack", "session": "default",
             "payload": {"id": own["id"], "ack": ack}}
        ).encode()  # fmt: skip
        answer = api.post(body)
        assert answer.status_code == 422, (ack, answer.text)
    assert len(api.letters()) == len(odd)
    assert api.post(delivery("message.ack", {"id": own["id"], "ack": 3}, "ok")).status_code == 200


def test_a_nul_anywhere_in_a_url_is_a_400_and_in_an_envelope_a_422(api):
    body = delivery("message", inbound(1), "nul-url")
    assert api.post(body, channel="de\x00fault").status_code == 400
    assert api.post(body, channel="default", tenant="de\x00fault").status_code == 400
    session = api.post(delivery("message", inbound(2), "nul-session", session="de\x00fault"))
    assert session.status_code == 422 and "NUL" in session.json()["detail"]
    v1 = api.v1()
    assert v1.get("/v1/channels/de%00fault").status_code == 400
    assert v1.get("/v1/channels/de%00fault/chats").status_code == 400
    assert v1.get(f"/v1/channels/default/chats/{CHAT}%00/messages").status_code == 400
    assert v1.get(f"/v1/channels/default/chats/{CHAT}%00/sessions").status_code == 400
    assert v1.get("/v1/events", params={"channel": "\x00"}).status_code == 400
    assert v1.get("/v1/contacts", params={"cursor": "1\x00"}).status_code == 400
    assert v1.post("/v1/channels/default/chats/a%00b/read").status_code == 400
    for field in ("waha_session", "waha_api_key", "webhook_hmac_key"):
        made = v1.post("/v1/channels", json={"name": f"n-{field}", field: "a\x00b"})
        assert made.status_code == 422 and "NUL" in made.text, made.text
    baileys = httpx.post(f"{api.url}/webhooks/baileys/de%00fault", content=b"{}")
    assert baileys.status_code == 400
    console = api.console()
    assert console.get("/channels/de%00fault").status_code == 400
    assert console.get(f"/channels/default/chats/{CHAT}%00").status_code == 400
    assert console.post(f"/channels/default/chats/{CHAT}%00/read").status_code == 400


def cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


CRAFTED = [
    cursor(["2026-01-01T00:00:00+00:00", 2**64]),  # an id over 2^63
    cursor(["2026-01-01T00:00:00+00:00", 2**63]),
    cursor(["0001-01-01T00:00:00+14:00", 1]),  # before year 1 in UTC
    cursor(["9999-12-31T23:59:59-14:00", 1]),  # after year 9999 in UTC
    cursor(["2026-01-01T00:00:00+00:00", True]),
    cursor(["2026-01-01T00:00:00+00:00"]),
    cursor({"a": 1}),
    "x" * 5000,
]


def test_crafted_cursors_are_400s(api):
    api.post(delivery("message", inbound(1), "one"))
    v1, console = api.v1(), api.console()
    for crafted in CRAFTED:
        for path in ("/v1/channels/default/chats", f"/v1/channels/default/chats/{CHAT}/messages"):
            answer = v1.get(path, params={"cursor": crafted})
            assert answer.status_code in (400, 422), (path, crafted, answer.text)
        for path in ("/channels/default", f"/channels/default/chats/{CHAT}"):
            assert console.get(path, params={"cursor": crafted}).status_code in (400, 422)
    for digits in ("9" * 19, str(2**63), "0" * 19 + "1"):
        assert v1.get("/v1/contacts", params={"cursor": digits}).status_code == 400
        assert v1.get("/v1/events", params={"cursor": digits}).status_code == 400
    assert v1.get("/v1/events", params={"cursor": str(2**63 - 1)}).status_code == 200


def test_a_huge_message_is_stored_whole_and_shown_truncated_in_the_console(api):
    text = "é" * 150_000 + "THE END"
    answer = api.post(delivery("message", {**inbound(1), "body": text}, "huge"))
    assert answer.status_code == 200
    with api.services.database.engine.connect() as connection:
        assert connection.execute(select(func.length(messages.c.text))).scalar() == len(text)
    page = api.console().get(f"/channels/default/chats/{CHAT}")
    assert page.status_code == 200 and "Truncated" in page.text and "THE END" not in page.text
    assert len(page.content) < 65_536 * 2 + 20_000  # the first 64 Ki characters, 2 bytes each


def test_dead_letters_are_bounded_hashed_capped_and_only_kept_for_trusted_callers(
    database_url: str,
):
    # no key anywhere: unsigned deliveries are taken, refused ones kept (bounded, capped)
    with serve(database_url, dead_letters_per_channel=3) as api:
        bodies = [
            delivery("message", {**inbound(n), "body": "x" * 100_000}, f"e{n}", session="nobody")
            for n in range(6)
        ]
        for body in bodies:
            assert api.post(body, signed=False).status_code == 404
        letters = api.letters()
        assert [letter.external_id for letter in letters] == ["e3", "e4", "e5"]  # the newest
        for letter, body in zip(letters, bodies[3:], strict=True):
            assert len(letter.payload.encode()) <= 64 * 1024
            assert letter.payload_bytes == len(body)
            assert letter.payload_sha256 == hashlib.sha256(body).hexdigest()
    # a global key (the same database): unsigned deliveries for unknown sessions leave
    # nothing behind
    with serve(database_url, webhook_hmac_key=KEY) as api:
        body = delivery("message", {**inbound(1), "body": "x" * 100_000}, "e", session="nobody")
        assert api.post(body, signed=False).status_code == 401
        assert api.post(body + b"{", signed=False).status_code == 401
        assert api.post(body, signed=False, channel="nope").status_code == 401
        assert len(api.letters()) == 3  # those above
        assert api.post(body).status_code == 404 and len(api.letters()) == 4


def test_console_forms_need_their_own_origin(sqlite_api):
    console = sqlite_api.console()
    read = f"/channels/default/chats/{CHAT}/read"
    assert console.post(read, headers={"Origin": "null"}).status_code == 403
    bare = httpx.Client(base_url=sqlite_api.url, cookies=console.cookies)
    assert bare.post(read).status_code == 403  # no Origin at all
    assert bare.post("/logout").status_code == 403
    assert console.post(read, headers={"Origin": "http://evil.example"}).status_code == 403
    assert console.post(read).status_code == 404  # our own origin: past the check, no chat


def test_the_push_route_answers_unknown_and_unauthorised_channels_alike(sqlite_api):
    url = sqlite_api.url
    unknown = httpx.post(f"{url}/webhooks/baileys/nope", content=b"{}")
    existing = httpx.post(f"{url}/webhooks/baileys/default", content=b"{}")
    assert unknown.status_code == existing.status_code == 401
    assert unknown.json() == existing.json()
    told = httpx.post(f"{url}/webhooks/baileys/nope", content=b"{}", headers=sign(b"{}", KEY))
    assert told.status_code == 404  # signed with the global key: the operator is told


def test_every_console_page_and_api_answer_has_the_security_headers(sqlite_api):
    console = sqlite_api.console()
    sqlite_api.post(delivery("message", inbound(1), "one"))
    pages = ["/", "/channels/default", f"/channels/default/chats/{CHAT}", "/imports"]
    pages += ["/agent-jobs", "/channels/nope", "/static/console.css", "/static/console.js"]
    answers = [console.get(path) for path in pages]
    answers += [httpx.get(f"{sqlite_api.url}/login"), httpx.get(f"{sqlite_api.url}/healthz")]
    for answer in answers:
        headers = answer.headers
        policy = headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, answer.url
        assert "unsafe-inline" not in policy
        assert headers.get("x-frame-options") == "DENY"
        assert headers.get("referrer-policy") == "same-origin"
        assert headers.get("x-content-type-options") == "nosniff"
    docs = httpx.get(f"{sqlite_api.url}/docs")
    assert docs.status_code == 200 and docs.headers["x-frame-options"] == "DENY"


def test_metrics_can_require_a_bearer_token(sqlite_url):
    with serve(sqlite_url, metrics_token="s3cret") as api:
        metrics = f"{api.url}/metrics"
        assert httpx.get(metrics).status_code == 401
        wrong = httpx.get(metrics, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        right = httpx.get(metrics, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and "chatport" in right.text
    with serve(sqlite_url) as api:
        assert httpx.get(f"{api.url}/metrics").status_code == 200  # no token: open


def test_a_long_envelope_id_or_a_giant_file_length_is_a_4xx_not_a_500(api):
    long_id = api.post(delivery("message", inbound(1), "e" * 65))
    assert long_id.status_code == 422
    image = {
        **inbound(2),
        "hasMedia": True,
        "_data": {"message": {"imageMessage": {"fileLength": {"low": 1, "high": 2**62}}}},
    }
    assert api.post(delivery("message", image, "giant")).status_code == 200
    long_chat = {**inbound(3), "from": "1" * 200 + "@c.us"}
    assert api.post(delivery("message", long_chat, "long-chat")).status_code == 422
    edge_time = {**inbound(4), "timestamp": "0001-01-01T00:00:00+14:00"}
    assert api.post(delivery("message", edge_time, "year-1")).status_code == 422
    wrapped = orjson.loads(delivery("message", inbound(5), "big-int"))
    wrapped["payload"]["_data"] = {"n": 2**64}
    assert api.post(json.dumps(wrapped).encode()).status_code == 422
    assert len(api.letters()) == 4  # all but the image, stored without its (absurd) size


def test_a_baileys_push_with_nuls_and_absurd_values_is_stored_or_refused_never_a_500(api):
    base = history(2)
    nasty = {
        "lidPnMappings": [
            {"lid": "1\x00@lid", "pn": "2\x00@s.whatsapp.net"},
            {"lid": "1" * 300 + "@lid", "pn": "2" * 300 + "@s.whatsapp.net"},
        ],
        "chats": [{"id": "55\x00@c.us", "name": "n\x00"}],
    }
    first, second = base["messages"]
    first["message"] = {
        "imageMessage": {"fileLength": {"low": 5, "high": 2**62}, "mimetype": "m" * 999}
    }
    second["message"] = {"documentMessage": {"fileName": "f\x00", "mimetype": "a\x00"}}
    body = json.dumps(base | nasty).encode()
    pushed = httpx.post(
        f"{api.url}/webhooks/baileys/default", content=body, headers=sign(body, KEY)
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["created"] == 2 and pushed.json()["lid_pairs"] == 0
