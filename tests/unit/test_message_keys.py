"""Message keys (`domain.keys`): one key per message whatever alias names its chat or its
group participant; ids of no WhatsApp id key themselves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatport.domain.batch import prepare_batch
from chatport.domain.keys import message_key, rekey, whatsapp_id
from tests.builders import incoming

LID, PHONE, GROUP = "9000000003@lid", "5511900000003@c.us", "120363000000000077@g.us"

wa_ids = st.text("0123456789ABCDEF", min_size=8, max_size=32)
people = st.sampled_from([LID, PHONE, "5511900000004@c.us", "77@lid"])


@given(wa_ids, st.booleans(), people)
def test_a_group_message_has_one_key_whatever_alias_names_its_author(wa_id, from_me, who):
    side = "true" if from_me else "false"
    with_author = message_key(from_me, GROUP, f"{side}_{GROUP}_{wa_id}_{who}")
    assert with_author == message_key(from_me, GROUP, f"{side}_{GROUP}_{wa_id}")
    assert with_author == f"{side}_{GROUP}_{wa_id}"


@given(wa_ids, st.booleans())
def test_a_lid_id_rekeyed_to_the_phone_chat_is_the_phone_id(wa_id, from_me) -> None:
    side = "true" if from_me else "false"
    by_lid = message_key(from_me, LID, f"{side}_{LID}_{wa_id}")
    by_phone = message_key(from_me, PHONE, f"{side}_{PHONE}_{wa_id}")
    assert rekey(by_lid, LID, PHONE) == by_phone
    assert rekey(by_phone, PHONE, LID) == by_lid
    assert message_key(from_me, PHONE, f"{side}_{LID}_{wa_id}") == by_phone  # resolved chat
    assert message_key(from_me, PHONE, "anything", wa_id) == by_phone  # given apart (Baileys)


def test_ids_of_no_whatsapp_id_are_their_own_key() -> None:
    for external_id in ("export-0123abcd", "chatport-agent-7", "maybe_not@x", "true__x"):
        assert message_key(False, PHONE, external_id) == external_id
        assert rekey(external_id, LID, PHONE) == external_id
    assert whatsapp_id(f"false_{PHONE}_AB_CD") == "AB_CD"  # no JID after: part of the id
    assert rekey(f"false_{LID}2_X", LID, PHONE) == f"false_{LID}2_X"  # another chat


def test_a_batch_keeps_the_first_of_one_message_under_two_ids() -> None:
    batch = prepare_batch(
        [
            incoming(f"false_{GROUP}_3EB0_{LID}", chat=GROUP),
            incoming(f"false_{GROUP}_3EB0_{PHONE}", chat=GROUP),
            incoming(f"false_{GROUP}_3EB0", chat=GROUP, from_me=True),
        ]
    )
    assert [m.key for m in batch.messages] == [f"false_{GROUP}_3EB0", f"true_{GROUP}_3EB0"]
    assert batch.messages[0].external_id == f"false_{GROUP}_3EB0_{LID}"  # kept verbatim
    assert batch.duplicates == 1
