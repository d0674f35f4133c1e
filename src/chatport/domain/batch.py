"""Validate a batch of incoming messages before it touches a store. Pure.

`prepare_batch` normalises ids, timestamps and text, keys each message (`domain.keys`), drops
in-batch duplicates (the first occurrence of a key wins), and collects what the batch says
about chats and contacts. Every message that cannot be stored comes back as an `Invalid` with
a reason; nothing raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import msgspec

from chatport.domain.keys import message_key
from chatport.domain.model import ChatInfo, ContactRef, IncomingMessage, Invalid, Media, Message
from chatport.domain.normalise import (
    InvalidValue,
    clean_text,
    is_group,
    is_lid,
    normalise_jid,
    normalise_timestamp,
    phone_of,
)

MAX_EXTERNAL_ID_LENGTH = 256
MAX_MIME_LENGTH = 255
"""The longest media type kept (RFC 6838 allows 127 + 1 + 127 characters)."""


class PreparedBatch(msgspec.Struct, gc=False):
    """A batch ready for the store: valid messages, refusals, chats and contacts seen."""

    messages: list[Message] = msgspec.field(default_factory=list)
    invalid: list[Invalid] = msgspec.field(default_factory=list)
    duplicates: int = 0
    chats: dict[str, ChatInfo] = msgspec.field(default_factory=dict)
    contacts: dict[str, ContactRef] = msgspec.field(default_factory=dict)

    def lid_pairs(self) -> dict[str, str]:
        """The `@lid` -> phone JID pairs its contacts revealed."""
        return {
            ref.lid: ref.wa_id
            for ref in self.contacts.values()
            if ref.lid and not ref.wa_id.endswith("@lid")
        }

    def unknown_lids(self) -> set[str]:
        """The LIDs it names without a phone (chats and people)."""
        lids = {ref.wa_id for ref in self.contacts.values() if ref.wa_id.endswith("@lid")}
        lids.update(chat_id for chat_id in self.chats if chat_id.endswith("@lid"))
        return lids


@lru_cache(maxsize=4_096)
def normalise_contact(ref: ContactRef) -> ContactRef:
    """A contact keyed by its phone JID when known, else by its LID; names cleaned."""
    wa_id = normalise_jid(ref.wa_id)
    lid = normalise_jid(ref.lid) if ref.lid else (wa_id if is_lid(wa_id) else None)
    phone = ref.phone and phone_of(normalise_jid(ref.phone))
    phone = phone or phone_of(wa_id)
    if phone and is_lid(wa_id):
        wa_id = f"{phone}@c.us"
    name = clean_text(ref.name.strip()) if ref.name and ref.name.strip() else None
    return ContactRef(wa_id=wa_id, phone=phone, lid=lid, name=name)


_cached_jid = lru_cache(maxsize=65_536)(normalise_jid)


def prepare_batch(incoming: Iterable[IncomingMessage]) -> PreparedBatch:
    """Validate and normalise `incoming`; see the module docstring."""
    batch = PreparedBatch()
    seen: set[str] = set()
    chat_names: dict[str, str] = {}
    chat_lids: dict[str, str] = {}
    for item in incoming:
        try:
            message = _validate(item)
        except InvalidValue as error:
            batch.invalid.append(
                Invalid(str(error), _short(item.external_id), _short(item.chat_id), item.raw)
            )
            continue
        if message.key in seen:
            batch.duplicates += 1
            continue
        seen.add(message.key)
        batch.messages.append(message)
        if item.chat_name:
            chat_names[message.chat_id] = item.chat_name
        if item.chat_lid:
            _note_lid(chat_lids, message.chat_id, item.chat_lid)
        author = message.author
        if author is not None:
            known = batch.contacts.get(author.wa_id)
            if known is not author:
                batch.contacts[author.wa_id] = _merge_contact(known, author)
    _collect_chats(batch, chat_names, chat_lids)
    return batch


def _validate(item: IncomingMessage) -> Message:
    if item.problem:
        raise InvalidValue(item.problem)
    external_id = item.external_id
    if not isinstance(external_id, str) or not external_id or external_id.isspace():
        raise InvalidValue("missing message id")
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidValue(f"message id longer than {MAX_EXTERNAL_ID_LENGTH} characters")
    if "\x00" in external_id:
        raise InvalidValue("message id contains a NUL character")
    if item.chat_id is None:
        raise InvalidValue("missing chat id")
    chat_id = _cached_jid(item.chat_id)
    sent_at = normalise_timestamp(item.sent_at)
    wa_id = item.wa_id
    if wa_id is not None and (
        not isinstance(wa_id, str)
        or not wa_id
        or "\x00" in wa_id
        or len(wa_id) > MAX_EXTERNAL_ID_LENGTH
    ):
        wa_id = None
    from_me = bool(item.from_me)
    author = None
    if not from_me:
        if item.author is not None:
            author = normalise_contact(item.author)
        elif not is_group(chat_id):
            author = _chat_counterpart(chat_id)
    return Message(
        external_id,
        chat_id,
        sent_at,
        from_me,
        author,
        clean_text(item.text),
        str(item.content_type or "unknown"),
        _clean_media(item.media),
        item.raw,
        message_key(from_me, chat_id, external_id, wa_id),
    )


def _usable_id(wa_id: object) -> bool:
    """A WhatsApp id a key can hold (else the key reads it from the message's id)."""
    return (
        isinstance(wa_id, str)
        and bool(wa_id)
        and "\x00" not in wa_id
        and len(wa_id) <= MAX_EXTERNAL_ID_LENGTH
    )


def _clean_media(media: Media | None) -> Media | None:
    """Media metadata every store takes: texts without NUL or lone surrogates, a media type
    of at most `MAX_MIME_LENGTH` characters and a size within 64 bits (else none)."""
    if media is None:
        return None
    url, filename, mime = clean_text(media.url), clean_text(media.filename), clean_text(media.mime)
    if mime is not None and len(mime) > MAX_MIME_LENGTH:
        mime = None
    size = media.size if media.size is None or 0 <= media.size < 2**63 else None
    if (url, mime, filename, size) == (media.url, media.mime, media.filename, media.size):
        return media
    return Media(url=url, mime=mime, filename=filename, size=size)


@lru_cache(maxsize=65_536)
def _chat_counterpart(chat_id: str) -> ContactRef:
    return normalise_contact(ContactRef(wa_id=chat_id))


def _note_lid(chat_lids: dict[str, str], chat_id: str, lid: str) -> None:
    """Remember that the phone chat `chat_id` was named `lid` (a LID) by its source."""
    try:
        lid = _cached_jid(lid)
    except InvalidValue:
        return
    if is_lid(lid) and chat_id.endswith("@c.us"):
        chat_lids[chat_id] = lid


def _collect_chats(
    batch: PreparedBatch, chat_names: dict[str, str], chat_lids: dict[str, str]
) -> None:
    """One ChatInfo per chat; a 1:1 chat's counterpart is its inbound author, else its JID
    (with the LID its source named it by), and its name the counterpart's (WhatsApp's
    pushName, an export's or Baileys' name), else the source's name of the chat."""
    counterparts: dict[str, ContactRef] = {}
    for message in batch.messages:
        chat_id = message.chat_id
        if message.author is not None and chat_id not in counterparts and _is_person(chat_id):
            counterparts[chat_id] = message.author
    for message in batch.messages:
        chat_id = message.chat_id
        if chat_id in batch.chats:
            continue
        counterpart = None
        if _is_person(chat_id):
            counterpart = counterparts.get(chat_id) or ContactRef(
                wa_id=chat_id, phone=phone_of(chat_id), lid=chat_id if is_lid(chat_id) else None
            )
            lid = chat_lids.get(chat_id)
            if lid and not counterpart.lid:
                named = msgspec.structs.replace(counterpart, lid=lid)
                counterpart = _merge_contact(batch.contacts.get(counterpart.wa_id), named)
                batch.contacts[counterpart.wa_id] = counterpart
            counterpart = batch.contacts.setdefault(counterpart.wa_id, counterpart)
        name = (counterpart.name if counterpart is not None else None) or chat_names.get(chat_id)
        batch.chats[chat_id] = ChatInfo(
            chat_id=chat_id,
            is_group=is_group(chat_id),
            name=clean_text(name.strip()) if name and name.strip() else None,
            counterpart=counterpart,
        )


def _is_person(chat_id: str) -> bool:
    return chat_id.endswith(("@c.us", "@lid", "@export"))


def _merge_contact(known: ContactRef | None, new: ContactRef) -> ContactRef:
    if known is None:
        return new
    return ContactRef(
        wa_id=new.wa_id,
        phone=new.phone or known.phone,
        lid=new.lid or known.lid,
        name=new.name or known.name,
    )


def _short(value: object) -> str | None:
    return None if value is None else str(value)[:MAX_EXTERNAL_ID_LENGTH]
