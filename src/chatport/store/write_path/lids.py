"""LIDs: a channel's stored `@lid` -> phone mapping, and contacts first seen by a LID merged
into the person's phone contact once the mapping is known (their messages and chats follow).

A merge moves `messages.contact_id` and `chats.contact_id` from the LID contact to the phone
contact and deletes the LID contact; with no phone contact yet, the LID contact becomes it
(its `wa_id` becomes the phone JID, the LID stays in `lid`). A chat keyed by the LID joins the
phone chat (`store.lid_chats`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, exists, select, update

from chatport.domain.model import Channel
from chatport.domain.normalise import phone_of
from chatport.store.backends.bulk import BulkOps, insert_new
from chatport.store.tables import chats, contacts, lid_mappings, messages
from chatport.store.write_path.lid_chats import join_lid_chats

_COLUMNS = ("channel_id", "lid", "wa_id", "updated_at")


def channel_lids(connection: Connection, channel_id: int) -> dict[str, str]:
    """The channel's stored `@lid` -> phone JID mapping."""
    query = select(lid_mappings.c.lid, lid_mappings.c.wa_id).where(
        lid_mappings.c.channel_id == channel_id
    )
    return {lid: wa_id for lid, wa_id in connection.execute(query)}


def remember_lids(
    connection: Connection, ops: BulkOps, channel: Channel, mapping: Mapping[str, str]
) -> int:
    """Store new `@lid` -> phone JID (`…@c.us`) pairs, then merge the tenant's LID contacts
    and the channel's LID chats they name; return how many pairs were new. Other pairs are
    ignored."""
    pairs = {
        lid: phone
        for lid, phone in mapping.items()
        if lid.endswith("@lid") and phone.endswith("@c.us")
    }
    if not pairs:
        return 0
    ops.lock_names(connection, lid_lock_names(channel, pairs))
    now = datetime.now(UTC)
    stamp = ops.encode_time(now)
    rows = [(channel.id, lid, phone, stamp) for lid, phone in sorted(pairs.items())]
    created = insert_new(connection, ops, lid_mappings, _COLUMNS, rows, ("channel_id", "lid"))
    merge_lid_contacts(connection, channel.tenant_id, pairs)
    fill_contact_lids(connection, channel, pairs.values())
    join_lid_chats(connection, ops, channel, pairs, now)
    return created


def fill_contact_lids(connection: Connection, channel: Channel, wa_ids: Iterable[str]) -> None:
    """Give the tenant's contacts among `wa_ids` that have no LID the one the channel's stored
    mapping pairs with their phone JID, so a contact's LID does not depend on whether it was
    written before or after its pair was learned."""
    phones = sorted({wa_id for wa_id in wa_ids if wa_id.endswith("@c.us")})
    if not phones:
        return
    paired = select(lid_mappings.c.lid).where(
        lid_mappings.c.channel_id == channel.id, lid_mappings.c.wa_id == contacts.c.wa_id
    )
    connection.execute(
        update(contacts)
        .where(
            contacts.c.tenant_id == channel.tenant_id,
            contacts.c.lid.is_(None),
            contacts.c.wa_id.in_(phones),
            exists(paired),
        )
        .values(lid=paired.order_by(lid_mappings.c.lid).limit(1).scalar_subquery())
    )


def stored_pairs(
    connection: Connection, ops: BulkOps, channel: Channel, lids: Iterable[str]
) -> dict[str, str]:
    """The stored pairs of `lids` (LIDs the caller's transaction meets without a phone),
    read under the same per-LID locks as `remember_lids` takes: whichever of two writers
    commits second sees the other's rows (see `resolve_lids`)."""
    wanted = sorted({lid for lid in lids if lid.endswith("@lid")})
    if not wanted:
        return {}
    ops.lock_names(connection, lid_lock_names(channel, wanted))
    query = select(lid_mappings.c.lid, lid_mappings.c.wa_id).where(
        lid_mappings.c.channel_id == channel.id, lid_mappings.c.lid.in_(wanted)
    )
    return {lid: wa_id for lid, wa_id in connection.execute(query)}


def resolve_lids(
    connection: Connection, ops: BulkOps, channel: Channel, known: Mapping[str, str]
) -> int:
    """Merge what the caller's transaction wrote under LIDs whose pairs are stored (`known`,
    read by `stored_pairs`) into the phone contact and chat; return how many. A pair stored
    by an import while a webhook writes under its LID ends merged, whatever the order."""
    if known:
        merge_lid_contacts(connection, channel.tenant_id, known)
        join_lid_chats(connection, ops, channel, known, datetime.now(UTC))
    return len(known)


def lid_lock_names(channel: Channel, lids: Iterable[str]) -> list[str]:
    """The lock names that serialise the writers of `lids`' pairs and messages."""
    return [f"lid:{channel.id}:{lid}" for lid in lids]


def merge_lid_contacts(connection: Connection, tenant_id: int, pairs: Mapping[str, str]) -> int:
    """Merge each contact keyed by a LID of `pairs` into the contact of its phone; how many."""
    if not pairs:
        return 0
    found = connection.execute(
        select(contacts.c.id, contacts.c.wa_id, contacts.c.name).where(
            contacts.c.tenant_id == tenant_id, contacts.c.wa_id.in_(list(pairs))
        )
    ).all()
    merged = 0
    for lid_contact in found:
        phone = pairs[lid_contact.wa_id]
        target = connection.execute(
            select(contacts.c.id, contacts.c.lid, contacts.c.name).where(
                contacts.c.tenant_id == tenant_id, contacts.c.wa_id == phone
            )
        ).first()
        now = datetime.now(UTC)
        if target is None:  # the LID contact becomes the phone contact
            connection.execute(
                update(contacts)
                .where(contacts.c.id == lid_contact.id)
                .values(wa_id=phone, phone=phone_of(phone), lid=lid_contact.wa_id, updated_at=now)
            )
        else:
            for table in (messages, chats):
                connection.execute(
                    update(table)
                    .where(table.c.tenant_id == tenant_id, table.c.contact_id == lid_contact.id)
                    .values(contact_id=target.id)
                )
            connection.execute(delete(contacts).where(contacts.c.id == lid_contact.id))
            connection.execute(
                update(contacts)
                .where(contacts.c.id == target.id)
                .values(
                    lid=target.lid or lid_contact.wa_id,
                    name=target.name or lid_contact.name,
                    updated_at=now,
                )
            )
        merged += 1
    return merged
