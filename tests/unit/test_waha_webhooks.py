"""WAHA webhook signatures (the documented test vector) and envelopes."""

import hashlib
import hmac

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatport.sources.waha.webhooks import (
    WebhookRejected,
    message_of,
    parse_envelope,
    session_status_of,
    sign,
    signature_valid,
)

VECTOR_BODY = b'{"event":"message","session":"default","engine":"WEBJS"}'
VECTOR_KEY = "my-secret-key"
VECTOR_HMAC = (
    "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
    "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
)


def headers(**values: str) -> dict[str, str]:
    return {name.replace("_", "-").lower(): value for name, value in values.items()}


def test_the_documented_test_vector_verifies():
    assert sign(VECTOR_BODY, VECTOR_KEY)["X-Webhook-Hmac"] == VECTOR_HMAC
    given = headers(x_webhook_hmac=VECTOR_HMAC, x_webhook_hmac_algorithm="sha512")
    assert signature_valid(VECTOR_BODY, given, VECTOR_KEY)
    assert not signature_valid(VECTOR_BODY, given, "another-key")
    assert not signature_valid(VECTOR_BODY + b" ", given, VECTOR_KEY)  # raw bytes, not JSON
    assert not signature_valid(VECTOR_BODY, {}, VECTOR_KEY)
    sha256 = headers(x_webhook_hmac=VECTOR_HMAC, x_webhook_hmac_algorithm="sha256")
    assert not signature_valid(VECTOR_BODY, sha256, VECTOR_KEY)


def test_v2_signs_the_timestamp_and_the_body():
    stamp = "1741249702485"
    expected = hmac.new(VECTOR_KEY.encode(), f"{stamp}.".encode() + VECTOR_BODY, hashlib.sha512)
    given = {k.lower(): v for k, v in sign(VECTOR_BODY, VECTOR_KEY, stamp).items()}
    assert given["x-webhook-hmac"] == expected.hexdigest()
    assert signature_valid(VECTOR_BODY, given, VECTOR_KEY)
    assert not signature_valid(VECTOR_BODY, {**given, "x-webhook-timestamp": "1"}, VECTOR_KEY)
    # a v1 signature presented as v2 does not pass
    v1_as_v2 = {**given, "x-webhook-hmac": VECTOR_HMAC}
    assert not signature_valid(VECTOR_BODY, v1_as_v2, VECTOR_KEY)


def envelope(event: str, payload: dict, **extra) -> bytes:
    document = {
        "id": "evt_01jk9pxcvpavc6bg1ax4m8ntx5",
        "timestamp": 1741249702485,
        "event": event,
        "session": "default",
        "engine": "NOWEB",
        "environment": {"version": "2026.7.1"},
        "payload": payload,
        **extra,
    }
    return orjson.dumps(document)


INBOUND = {
    "id": "false_5511999990001@c.us_AAA",
    "timestamp": 1741249700,
    "from": "5511999990001@c.us",
    "to": "5511888880000@c.us",
    "fromMe": False,
    "body": "olá",
    "_data": {"pushName": "Ana"},
}


def test_an_inbound_message_belongs_to_its_sender_and_keeps_its_bytes():
    parsed = parse_envelope(envelope("message", INBOUND))
    message = message_of(parsed, {})
    assert (message.chat_id, message.from_me, message.text) == ("5511999990001@c.us", False, "olá")
    assert message.author.wa_id == "5511999990001@c.us" and message.author.name == "Ana"
    assert orjson.loads(message.raw) == INBOUND


def test_an_own_message_belongs_to_its_recipient():
    own = {
        **INBOUND,
        "id": "true_5511999990001@c.us_BBB",
        "fromMe": True,
        "from": "5511888880000@c.us",
        "to": "5511999990001@c.us",
    }
    message = message_of(parse_envelope(envelope("message.any", own)), {})
    assert (message.chat_id, message.from_me, message.author) == ("5511999990001@c.us", True, None)


def test_a_lid_sender_is_its_phone_contact():
    lid = {
        **INBOUND,
        "from": "123456789@lid",
        "_data": {"key": {"remoteJidAlt": "5511999990001@s.whatsapp.net"}},
    }
    message = message_of(parse_envelope(envelope("message", lid)), {})
    assert message.chat_id == "5511999990001@c.us" and message.author.lid == "123456789@lid"


def test_session_status():
    status = session_status_of(parse_envelope(envelope("session.status", {"status": "WORKING"})))
    assert status.status == "WORKING" and status.latest == ()
    listed = {"status": "WORKING", "statuses": [{"status": "STARTING"}, {"status": "WORKING"}]}
    status = session_status_of(parse_envelope(envelope("session.status", listed)))
    assert status.latest == ("STARTING", "WORKING")
    with pytest.raises(WebhookRejected):
        session_status_of(parse_envelope(envelope("session.status", {})))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 422),
        (orjson.dumps({"event": "message", "session": "default"}), 422),  # no id, no payload
        (orjson.dumps({"id": 1, "event": "message", "session": "s", "payload": {}}), 422),
    ],
)
def test_what_is_not_an_envelope_is_refused_with_the_reason(body, status):
    with pytest.raises(WebhookRejected) as refused:
        parse_envelope(body)
    assert refused.value.status == status and refused.value.reason


def test_a_message_payload_without_its_chat_is_refused():
    with pytest.raises(WebhookRejected, match="without a chat"):
        message_of(parse_envelope(envelope("message", {"id": "x", "fromMe": False})), {})


@given(st.binary(max_size=300))
def test_any_body_parses_or_is_refused_with_4xx(body):
    try:
        parse_envelope(body)
    except WebhookRejected as refused:
        assert refused.status in (400, 422)


def test_changes_name_their_message():
    from chatport.sources.waha.webhooks import change_of

    ack = change_of(parse_envelope(envelope("message.ack", {"id": "true_1@c.us_X", "ack": 3})), {})
    assert (ack.kind, ack.message_id, ack.ack) == ("ack", "true_1@c.us_X", 3)
    revoked = {
        "after": {
            "from": "123@lid",
            "fromMe": False,
            "timestamp": 5,
            "_data": {"key": {"remoteJidAlt": "5511999990001@s.whatsapp.net"}},
        },
        "before": None,
        "revokedMessageId": "ABC",
    }
    change = change_of(parse_envelope(envelope("message.revoked", revoked)), {})
    assert (change.chat_id, change.wa_id, change.at) == ("5511999990001@c.us", "ABC", 5)
    edited = {"from": "5511999990001@c.us", "fromMe": False, "body": "new", "editedMessageId": "E"}
    change = change_of(parse_envelope(envelope("message.edited", edited)), {})
    assert (change.kind, change.wa_id, change.text) == ("edited", "E", "new")
    for event, payload in [
        ("message.ack", {"id": "x"}),
        ("message.revoked", {"after": {}, "before": None}),
        ("message.edited", {"body": "new"}),
    ]:
        with pytest.raises(WebhookRejected):
            change_of(parse_envelope(envelope(event, payload)), {})
