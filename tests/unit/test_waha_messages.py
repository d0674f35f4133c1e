"""WAHA payloads to incoming messages: one person, one contact."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatport.domain.batch import prepare_batch
from chatport.sources.waha import messages as waha_messages

LIDS = {"111@lid": "5511999990001@c.us"}


def to_incoming(message: dict, chat_id: str, lids: dict):
    raw = msgspec.json.encode(message)
    return waha_messages.to_incoming(waha_messages.decode_message(raw), raw, chat_id, lids)


def payload(**fields):
    base = {"id": "false_x_1", "timestamp": 1_735_689_600, "fromMe": False, "body": "hi"}
    return {**base, **fields}


def test_a_lid_chat_resolves_through_its_noweb_twin() -> None:
    message = payload(
        _data={"key": {"remoteJidAlt": "5511777770000@s.whatsapp.net"}, "pushName": "Ann"}
    )
    incoming = to_incoming(message, "222@lid", {})
    assert incoming.chat_id == "5511777770000@c.us"
    assert (incoming.author.wa_id, incoming.author.lid, incoming.author.name) == (
        "5511777770000@c.us",
        "222@lid",
        "Ann",
    )


def test_a_lid_chat_resolves_through_the_lids_mapping_or_stays_a_lid() -> None:
    assert to_incoming(payload(), "111@lid", LIDS).chat_id == "5511999990001@c.us"
    assert to_incoming(payload(), "333@lid", LIDS).chat_id == "333@lid"


def test_group_participants_are_people_and_own_messages_have_no_author() -> None:
    group = "120363000000000001@g.us"
    by_twin = payload(
        participant="444@lid", _data={"key": {"participantAlt": "5521000@s.whatsapp.net"}}
    )
    by_map = payload(id="b", participant="111@lid")
    mine = payload(id="c", fromMe=True)
    batch = prepare_batch([to_incoming(m, group, LIDS) for m in (by_twin, by_map, mine)])
    assert [m.author.wa_id if m.author else None for m in batch.messages] == [
        "5521000@c.us",
        "5511999990001@c.us",
        None,
    ]
    assert batch.contacts["5511999990001@c.us"].lid == "111@lid"


def test_media_not_downloaded_keeps_its_type_and_mime() -> None:
    message = payload(
        body="",
        hasMedia=True,
        media=None,
        _data={"message": {"audioMessage": {"mimetype": "audio/ogg", "ptt": True}}},
    )
    incoming = to_incoming(message, "5511@c.us", {})
    assert incoming.content_type == "voice"
    assert incoming.media.mime == "audio/ogg" and incoming.media.url is None
    assert incoming.text is None


def test_a_message_of_the_wrong_shape_is_stored_as_invalid_with_the_reason() -> None:
    for raw in (b"[1, 2]", msgspec.json.encode(payload(_data=["not", "an", "object"]))):
        with pytest.raises(waha_messages.UnreadableMessage) as caught:
            waha_messages.decode_message(raw)
        unread = waha_messages.to_incoming(None, raw, "5511@c.us", {}, problem=str(caught.value))
        batch = prepare_batch([unread])
        assert [(i.reason, i.chat_id, i.raw) for i in batch.invalid] == [
            (str(caught.value), "5511@c.us", raw)
        ]
    assert "`$._data`" in str(caught.value)


chat_ids = st.sampled_from(["111@lid", "333@lid", "5511999990002@c.us", "1203630001@g.us"])
twins = st.sampled_from([None, "5511777770000@s.whatsapp.net", "5511777770000:12@s.whatsapp.net"])
ids = st.one_of(st.none(), st.text(max_size=12))
times = st.one_of(st.none(), st.integers(0, 10**15), st.text(max_size=8), st.floats())


@given(chat_ids, twins, ids, times)
def test_the_key_a_re_import_looks_up_is_what_the_mapping_stores(chat, twin, message_id, sent):
    message = payload(id=message_id, timestamp=sent, _data={"key": {"remoteJidAlt": twin}})
    raw = msgspec.json.encode(message)
    decoded = waha_messages.decode_message(raw)
    incoming = waha_messages.to_incoming(decoded, raw, chat, LIDS)
    key = waha_messages.stored_key(decoded, chat, LIDS)
    assert key[0] == incoming.chat_id and key[1] == incoming.external_id
    assert key[2] == incoming.sent_at or (key[2] != key[2] and incoming.sent_at != incoming.sent_at)
    assert waha_messages.stored_key(None, chat, LIDS) is None
