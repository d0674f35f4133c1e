"""WAHA payloads to incoming messages: one person, one contact."""

from __future__ import annotations

from chatport.domain.batch import prepare_batch
from chatport.sources.waha_messages import to_incoming

LIDS = {"111@lid": "5511999990001@c.us"}


def payload(**fields):
    base = {"id": "false_x_1", "timestamp": 1_735_689_600, "fromMe": False, "body": "hi"}
    return {**base, **fields}


def test_a_lid_chat_resolves_through_its_noweb_twin() -> None:
    message = payload(
        _data={"key": {"remoteJidAlt": "5511777770000@s.whatsapp.net"}, "pushName": "Ann"}
    )
    incoming = to_incoming(message, b"{}", "222@lid", {})
    assert incoming.chat_id == "5511777770000@c.us"
    assert (incoming.author.wa_id, incoming.author.lid, incoming.author.name) == (
        "5511777770000@c.us",
        "222@lid",
        "Ann",
    )


def test_a_lid_chat_resolves_through_the_lids_mapping_or_stays_a_lid() -> None:
    assert to_incoming(payload(), None, "111@lid", LIDS).chat_id == "5511999990001@c.us"
    assert to_incoming(payload(), None, "333@lid", LIDS).chat_id == "333@lid"


def test_group_participants_are_people_and_own_messages_have_no_author() -> None:
    group = "120363000000000001@g.us"
    by_twin = payload(
        participant="444@lid", _data={"key": {"participantAlt": "5521000@s.whatsapp.net"}}
    )
    by_map = payload(id="b", participant="111@lid")
    mine = payload(id="c", fromMe=True)
    batch = prepare_batch([to_incoming(m, None, group, LIDS) for m in (by_twin, by_map, mine)])
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
    incoming = to_incoming(message, None, "5511@c.us", {})
    assert incoming.content_type == "voice"
    assert incoming.media.mime == "audio/ogg" and incoming.media.url is None
    assert incoming.text is None
