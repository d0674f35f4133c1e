"""Baileys history sync payloads -> IncomingMessage: wrappers, timestamps, LIDs, skips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chatport.sources.baileys.history import payloads, read_history
from chatport.sources.waha.messages import long_number

PHONE = "5511900000001@s.whatsapp.net"
LID = "123456789012345@lid"


def message(content: dict, *, remote: str = PHONE, stamp=1_700_000_000, **key) -> dict:
    return {
        "key": {"remoteJid": remote, "fromMe": False, "id": f"ID{len(str(content))}", **key},
        "message": content,
        "messageTimestamp": stamp,
        "pushName": "Ana",
    }


def test_wrappers_are_unwrapped() -> None:
    history = read_history(
        {
            "messages": [
                message({"ephemeralMessage": {"message": {"conversation": "vanishing"}}}),
                message({"viewOnceMessageV2": {"message": {"imageMessage": {"caption": "once"}}}}),
                message(
                    {
                        "documentWithCaptionMessage": {
                            "message": {
                                "documentMessage": {
                                    "caption": "the deck",
                                    "fileName": "deck.pdf",
                                    "mimetype": "application/pdf",
                                    "fileLength": {"low": 48213, "high": 0, "unsigned": True},
                                }
                            }
                        }
                    }
                ),
                message(
                    {
                        "editedMessage": {
                            "message": {
                                "protocolMessage": {
                                    "key": {"id": "ORIGINAL"},
                                    "editedMessage": {"conversation": "fixed"},
                                }
                            }
                        }
                    }
                ),
                message({"audioMessage": {"ptt": True, "mimetype": "audio/ogg"}}),
            ]
        }
    )
    got = [(m.content_type, m.text) for m in history.messages]
    assert got == [
        ("text", "vanishing"),
        ("image", "once"),
        ("document", "the deck"),
        ("text", "fixed"),
        ("voice", None),
    ]
    assert history.messages[2].media.filename == "deck.pdf"
    assert history.messages[2].media.size == 48213
    assert history.messages[3].raw["chatport_edited"] is True


def test_timestamps_and_sizes_as_number_string_or_long() -> None:
    assert long_number(1_700_000_000) == long_number("1700000000") == 1_700_000_000
    assert long_number({"low": 1_700_000_000, "high": 0, "unsigned": True}) == 1_700_000_000
    assert long_number({"low": -1, "high": 0}) == 2**32 - 1
    assert long_number({"low": 5, "high": 1}) == 2**32 + 5
    assert long_number("soon") is None and long_number(None) is None
    assert long_number(True) is None


def test_lids_resolve_from_mappings_contacts_and_key_twins() -> None:
    other_lid, third_lid = "222222222222222@lid", "333333333333333@lid"
    history = read_history(
        {
            "lidPnMappings": [{"lid": LID, "pn": PHONE}],
            "contacts": [
                {"id": other_lid, "phoneNumber": "5511900000002@s.whatsapp.net"},
                {"id": "5511900000003@s.whatsapp.net", "lid": third_lid},
            ],
            "messages": [
                message({"conversation": "a"}, remote=LID),
                message({"conversation": "b"}, remote=other_lid),
                message(
                    {"conversation": "c"},
                    remote="120363000000000000@g.us",
                    participant=third_lid,
                ),
                message(
                    {"conversation": "d"},
                    remote="444444444444444@lid",
                    remoteJidAlt="5511900000004@s.whatsapp.net",
                ),
            ],
        }
    )
    assert history.lids == {
        LID: "5511900000001@c.us",
        other_lid: "5511900000002@c.us",
        third_lid: "5511900000003@c.us",
    }
    chats = [m.chat_id for m in history.messages]
    assert chats[:2] == ["5511900000001@c.us", "5511900000002@c.us"]
    assert chats[3] == "5511900000004@c.us"
    assert history.messages[2].author.wa_id == "5511900000003@c.us"
    assert history.messages[2].author.lid == third_lid
    group_id = history.messages[2].external_id
    assert group_id.startswith("false_120363000000000000@g.us_") and group_id.endswith(
        "_5511900000003@c.us"
    )
    assert history.messages[0].external_id.startswith("false_5511900000001@c.us_")


def test_reactions_protocol_messages_and_stubs_are_skipped() -> None:
    history = read_history(
        {
            "messages": [
                message({"reactionMessage": {"text": "👍"}}),
                message({"protocolMessage": {"type": 0}}),
                {"key": {"remoteJid": PHONE, "id": "X"}, "messageStubType": 20},
                "not even an object",
                message({"conversation": "kept"}),
            ]
        }
    )
    assert [m.text for m in history.messages] == ["kept"] and history.skipped == 4


def test_files_hold_one_payload_or_json_lines() -> None:
    assert [line for line, _ in payloads('{"messages": []}')] == [1]
    assert [line for line, _ in payloads('{"messages": []}\n\n{"messages": []}\n')] == [1, 3]
    try:
        list(payloads('{"messages": []}\n{broken'))
    except ValueError as error:
        assert str(error).startswith("line 2: not JSON")
    else:
        raise AssertionError("a broken line is refused")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(["key", "message", "messageTimestamp", "pushName", "participant"])


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "messages": st.lists(st.dictionaries(_KEYS, _JSON, max_size=5) | _JSON, max_size=4),
            "chats": _JSON,
            "contacts": _JSON,
            "lidPnMappings": _JSON,
        },
    )
)
def test_any_payload_maps_without_crashing(payload: dict) -> None:
    history = read_history(payload)
    assert len(history.messages) + history.skipped == len(payload.get("messages") or [])
