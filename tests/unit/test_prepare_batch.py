"""Validation before the store: refusals with reasons, in-batch duplicates, chats, contacts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatport.domain.batch import prepare_batch
from chatport.domain.model import ContactRef, IncomingMessage
from tests.builders import incoming

GROUP = "120363000000000001@g.us"


def test_refusals_carry_reasons_and_valid_messages_go_through() -> None:
    batch = prepare_batch(
        [incoming(None), incoming("t", sent_at=""), incoming("c", chat=None), incoming("ok")]
    )
    assert [m.external_id for m in batch.messages] == ["ok"]
    assert [i.reason for i in batch.invalid] == [
        "missing message id",
        "missing timestamp",
        "missing chat id",
    ]


def test_in_batch_duplicates_keep_the_first() -> None:
    batch = prepare_batch([incoming("a", 0, text="first"), incoming("a", 5, text="second")])
    assert batch.duplicates == 1 and batch.messages[0].text == "first"


def test_external_ids_are_kept_verbatim() -> None:
    batch = prepare_batch([incoming(" true_5511@c.us_ABC ")])
    assert batch.messages[0].external_id == " true_5511@c.us_ABC "


def test_inbound_one_to_one_author_is_the_chat_and_from_me_has_no_author() -> None:
    batch = prepare_batch(
        [
            incoming("in", chat="5511777@s.whatsapp.net"),
            incoming("out", chat="5511777", from_me=True),
        ]
    )
    assert batch.messages[0].author.wa_id == "5511777@c.us"
    assert batch.messages[1].author is None
    assert batch.chats["5511777@c.us"].counterpart.wa_id == "5511777@c.us"


def test_a_lid_author_with_a_known_phone_is_the_phone_contact() -> None:
    author = ContactRef("99999@lid", phone="5511888@s.whatsapp.net", name="Ann")
    batch = prepare_batch([incoming("g", chat=GROUP, author=author, chat_name="Team")])
    contact = batch.contacts["5511888@c.us"]
    assert (contact.phone, contact.lid, contact.name) == ("5511888", "99999@lid", "Ann")
    assert batch.chats[GROUP].is_group and batch.chats[GROUP].name == "Team"
    assert batch.chats[GROUP].counterpart is None


fields = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats())


@given(
    st.lists(
        st.builds(
            IncomingMessage,
            external_id=st.one_of(st.none(), st.text(max_size=30)),
            chat_id=st.one_of(st.none(), st.text(max_size=30), st.just("5511@c.us")),
            sent_at=fields,
            from_me=st.booleans(),
            author=st.one_of(st.none(), st.builds(ContactRef, wa_id=st.text(max_size=20))),
            text=st.one_of(st.none(), st.text()),
        ),
        max_size=20,
    )
)
def test_no_input_makes_prepare_batch_raise(items) -> None:
    batch = prepare_batch(items)
    assert len(batch.messages) + len(batch.invalid) + batch.duplicates == len(items)


def test_a_prepared_batch_survives_pickling_between_processes() -> None:
    import pickle

    from chatport.domain.model import ContactRef, IncomingMessage, Media

    batch = prepare_batch(
        [
            IncomingMessage(
                "a",
                "5511999999999@c.us",
                1_700_000_000,
                author=ContactRef("5511999999999@c.us", name="Ana"),
                text="olá",
                media=Media("u", "image/png", "f.png"),
                raw=b'{"id":"a"}',
            ),
            IncomingMessage("b", "5511999999999@c.us", 1_700_000_001, from_me=True, raw={"x": 1}),
        ]
    )
    assert pickle.loads(pickle.dumps(batch, protocol=5)) == batch


def test_a_one_to_one_chat_is_named_after_its_person_and_a_group_keeps_its_name() -> None:
    budi = ContactRef(wa_id="5511955550001@c.us", name="Budi")
    batch = prepare_batch(
        [
            incoming("in", chat="5511955550001@c.us", author=budi),
            incoming("out", chat="5511955550002@c.us", from_me=True, chat_name="Ana (WAHA)"),
            incoming("g", chat=GROUP, author=budi, chat_name="Family"),
        ]
    )
    names = {chat_id: info.name for chat_id, info in batch.chats.items()}
    assert names == {
        "5511955550001@c.us": "Budi",
        "5511955550002@c.us": "Ana (WAHA)",
        GROUP: "Family",
    }
