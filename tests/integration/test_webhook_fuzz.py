"""A property of `POST /webhooks/waha` (real HTTP, both back ends): whatever arrives (deep
nesting, huge strings, NULs, lone surrogates, invalid UTF-8, wrong types, giant integers,
unknown events, truncated bodies, signed or not), the answer is a documented status, never a
5xx; a refusal that passed the signature check leaves exactly one bounded dead letter, one
that did not (or a URL refused at the edge) leaves none. Deterministic: derandomized, a
fixed number of examples."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.sources.waha.webhooks import sign
from chatport.store.tables import dead_letters
from tests.integration.test_webhooks_api import inbound
from tests.servers import serve_app

KEY = "fuzz-key"
EXAMPLES = 150
DOCUMENTED = {200, 400, 401, 404, 409, 413, 422}
NASTY_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "5511999990001\x00@c.us",
    "\ud800",
    "x\udfff",
    "\ud83d\ude00",
    "😀" * 3,
    "5511999990001@c.us",
    "120363000000000000@g.us",
    "1" * 300 + "@c.us",
    "true_5511999990001@c.us_3EB0",
    "e" * 300,
]
NASTY_NUMBERS = [
    -1, 0, 2, 4, 5, 2**31, 2**40, 2**53 + 1, 2**63 - 1, 2**63, 2**63 + 5, -(2**63) - 1,
    2**64, 10**30, 1e300, -1e300, 1741249700, 1741249700000, 253402300800,
]  # fmt: skip
FIELDS = [
    "id", "timestamp", "from", "to", "fromMe", "body", "participant", "author", "hasMedia",
    "media", "_data", "ack", "location", "vCards", "before", "after", "revokedMessageId",
    "editedMessageId", "status", "name",
]  # fmt: skip
EVENTS = [
    "message", "message.any", "message.ack", "message.revoked", "message.edited",
    "session.status", "presence.update", "call.received", "no.such.event", "",
]  # fmt: skip

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(NASTY_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(NASTY_STRINGS),
    st.just("x" * 70_000),  # over a dead letter's 64 KiB
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


FRESH_ID = "@fresh-id@"
"""Replaced by a new envelope id in each example (hypothesis repeats its values a lot)."""
rarely = st.sampled_from([False] * 5 + [True])
"""True about once in six (sampled_from shrinks to its first item, unlike integers)."""


@st.composite
def payloads(draw) -> Any:
    """A WAHA-shaped payload with some fields replaced, or any JSON value."""
    if draw(rarely):
        return draw(values)
    n = draw(st.integers(0, 50))
    base: dict[str, Any] = inbound(n)
    base |= draw(
        st.sampled_from(
            [
                {},
                {"fromMe": True, "to": base["from"], "from": "5511888880000@c.us"},
                {"ack": 3},
                {"editedMessageId": "3EB0", "body": "edited"},
                {"before": {"id": base["id"]}, "after": dict(base), "revokedMessageId": "3EB0"},
                {"status": "WORKING", "name": "default"},
                {"hasMedia": True, "_data": {"message": {"imageMessage": {"fileLength": 5}}}},
            ]
        )
    )
    base |= draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=3))
    if draw(rarely):
        media = {"url": values, "mimetype": values | st.just("m" * 300), "filename": values}
        base |= {"hasMedia": True, "media": draw(st.fixed_dictionaries({}, optional=media))}
    if draw(st.booleans()):
        data = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "key": st.fixed_dictionaries({}, optional={"remoteJidAlt": values}),
                    "pushName": values,
                    "message": st.dictionaries(
                        st.sampled_from(["imageMessage", "audioMessage", "conversation"]),
                        st.fixed_dictionaries({}, optional={"fileLength": values, "ptt": values}),
                        max_size=2,
                    ),
                },
            )
        )
        base["_data"] = data
    return base


@st.composite
def requests(draw) -> tuple[bytes, bool, dict[str, str]]:
    """(body, signed, query) of one delivery."""
    envelope: dict[str, Any] = {
        "id": FRESH_ID
        if not draw(rarely)
        else draw(st.sampled_from(["evt_1", "e" * 65, "\x00"]) | st.text(max_size=70)),
        "event": draw(st.sampled_from(EVENTS)),
        "session": "default"
        if not draw(rarely)
        else draw(st.sampled_from(["nobody", "de\x00fault", "s" * 101])),
        "payload": draw(payloads()),
        "me": {"id": "5511888880000@c.us"} if not draw(rarely) else draw(values),
        "timestamp": 1741249702485 if not draw(rarely) else draw(st.sampled_from(NASTY_NUMBERS)),
    }
    if draw(rarely):
        for field in draw(st.lists(st.sampled_from(sorted(envelope)), max_size=2, unique=True)):
            if draw(st.booleans()):
                envelope[field] = draw(values)  # a wrong type, or an absurd value
            else:
                del envelope[field]
    how = draw(st.sampled_from(["ascii", "ascii", "utf8", "surrogatepass"]))
    change = draw(st.sampled_from(["none"] * 10 + ["deep", "invalid utf-8", "truncated"]))
    levels = draw(st.sampled_from([63, 66, 1_000, 5_000])) if change == "deep" else 0
    payload = envelope.pop("payload", None)
    if payload is not None or levels:
        envelope["payload"] = "@PAYLOAD@"
    text = json.dumps(envelope, ensure_ascii=how == "ascii")
    inner = json.dumps(payload, ensure_ascii=how == "ascii")
    nested = "[" * levels + inner + "]" * levels  # deeper than json.dumps can go
    text = text.replace('"@PAYLOAD@"', nested, 1)
    body = text.encode("utf-8", "surrogatepass" if how != "ascii" else "strict")
    if change == "invalid utf-8":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + body[at:]
    elif change == "truncated":
        body = body[: draw(st.integers(0, len(body)))]
    signed = not draw(rarely)
    query = draw(
        st.sampled_from(
            [{}] * 6
            + [{"channel": "default"}, {"channel": "nope"}, {"tenant": "x"}]
            + [{"channel": "a\x00"}, {"tenant": "\x00"}]
        )
    )
    return body, signed, query


def letters(services) -> list:
    with services.database.engine.connect() as connection:
        query = select(dead_letters.c.id, func.length(dead_letters.c.payload))
        return connection.execute(query.order_by(dead_letters.c.id)).all()


def test_no_delivery_is_a_5xx_and_every_trusted_refusal_is_kept_bounded(database_url) -> None:
    services = build(Settings(database_url=database_url, webhook_hmac_key=KEY))
    numbers = itertools.count()
    try:
        with serve_app(services) as url, httpx.Client(base_url=url, timeout=120) as client:

            @given(request=requests())
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def property_holds(request: tuple[bytes, bool, dict[str, str]]) -> None:
                body, signed, query = request
                body = body.replace(FRESH_ID.encode(), f"evt_{next(numbers)}".encode(), 1)
                headers = {"content-type": "application/json"}
                if signed:
                    headers |= sign(body, KEY)
                before = len(letters(services))
                answer = client.post("/webhooks/waha", content=body, headers=headers, params=query)
                status = answer.status_code
                assert status in DOCUMENTED, (status, answer.text[:500], body[:300])
                new = letters(services)[before:]
                refused_at_the_url = any("\x00" in value for value in query.values())
                if refused_at_the_url:
                    assert status == 400 and not new
                elif status in (400, 404, 422) and signed:
                    assert "detail" in answer.json()
                    assert len(new) == 1, (status, answer.text[:300])
                    (_, kept_chars) = new[0]
                    assert kept_chars <= 64 * 1024, kept_chars
                else:
                    assert not new, (status, answer.text[:300])

            property_holds()
    finally:
        services.close()
