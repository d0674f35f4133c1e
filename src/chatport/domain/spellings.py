"""One person, two spellings of their number: a batch's people and 1:1 chats moved to the ids
the store already has for them (a Brazilian mobile with or without its 9th digit,
`normalise.phone_variants`). Pure; the store decides which ids move (`store.write_path.
spellings`)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from chatport.domain.batch import PreparedBatch
from chatport.domain.model import ChatInfo, ContactRef
from chatport.domain.normalise import phone_of, phone_variants

USER_SUFFIX = "@c.us"


def other_spellings(batch: PreparedBatch) -> dict[str, tuple[str, ...]]:
    """Each phone id (`…@c.us`) the batch names as a chat or a person that has other
    spellings -> those spellings, as ids."""
    ids = {chat_id for chat_id in batch.chats if chat_id.endswith(USER_SUFFIX)}
    ids.update(wa_id for wa_id in batch.contacts if wa_id.endswith(USER_SUFFIX))
    found: dict[str, tuple[str, ...]] = {}
    for jid in sorted(ids):
        variants = phone_variants(phone_of(jid) or "")
        if variants:
            found[jid] = tuple(f"{variant}{USER_SUFFIX}" for variant in variants)
    return found


def respelled(batch: PreparedBatch, ids: Mapping[str, str]) -> PreparedBatch:
    """`batch` with the chats and people of `ids`' keys under the ids they map to."""
    if not ids:
        return batch

    def person(ref: ContactRef | None) -> ContactRef | None:
        if ref is None or ref.wa_id not in ids:
            return ref
        wa_id = ids[ref.wa_id]
        return ContactRef(wa_id=wa_id, phone=phone_of(wa_id), lid=ref.lid, name=ref.name)

    messages = []
    for message in batch.messages:
        author = person(message.author)
        if message.chat_id in ids or author is not message.author:
            chat_id = ids.get(message.chat_id, message.chat_id)
            message = msgspec.structs.replace(message, chat_id=chat_id, author=author)
        messages.append(message)
    contacts: dict[str, ContactRef] = {}
    for ref in batch.contacts.values():
        moved = person(ref)
        assert moved is not None
        known = contacts.get(moved.wa_id)
        contacts[moved.wa_id] = moved if known is None else _merged(known, moved)
    chats: dict[str, ChatInfo] = {}
    for chat_id, info in batch.chats.items():
        moved_id = ids.get(chat_id, chat_id)
        counterpart = person(info.counterpart)
        if counterpart is not None:
            counterpart = contacts.get(counterpart.wa_id, counterpart)
        chats.setdefault(moved_id, ChatInfo(moved_id, info.is_group, info.name, counterpart))
    return PreparedBatch(messages, batch.invalid, batch.duplicates, chats, contacts)


def _merged(first: ContactRef, second: ContactRef) -> ContactRef:
    return ContactRef(
        wa_id=first.wa_id,
        phone=first.phone or second.phone,
        lid=first.lid or second.lid,
        name=first.name or second.name,
    )
