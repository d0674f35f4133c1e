"""Changing and deleting channels, and a tenant's own settings.

A channel's settings change one by one (`update_channel`: only those given change, None
puts back the default). Deleting a channel (`purge_channel`) removes, in one transaction,
every row of it in every table that names it: the hot tables carry no foreign keys
(`tables/`), so the cascade is explicit here, and a test checks it against the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, exists, select, union, update

from chatport.errors import ChannelConflict, NotFoundError
from chatport.store.channels import waha_owner
from chatport.store.secret_box import SecretBox
from chatport.store.tables import (
    agent_jobs,
    bursts,
    channels,
    chats,
    contacts,
    dead_letters,
    events,
    import_job_chats,
    import_jobs,
    lid_mappings,
    message_raws,
    messages,
    outbound_messages,
    sessions,
    tenants,
    webhook_receipts,
)

SETTINGS = (
    "waha_url",
    "waha_session",
    "waha_api_key",
    "session_timeout_minutes",
    "webhook_hmac_key",
    "agent_url",
    "debounce_quiet_ms",
    "debounce_max_wait_ms",
    "agent_groups",
    "handoff_minutes",
)
"""A channel's settings, as `update_channel` takes them (and the API and CLI name them)."""
_SEALED = ("waha_api_key", "webhook_hmac_key")
_PLAIN = ("agent_url", "debounce_quiet_ms", "debounce_max_wait_ms", "agent_groups")

CHANNEL_TABLES: tuple[Table, ...] = (
    import_jobs,
    agent_jobs,
    bursts,
    outbound_messages,
    messages,
    message_raws,
    sessions,
    chats,
    events,
    dead_letters,
    lid_mappings,
    webhook_receipts,
)
"""Every table with a `channel_id`, in the order `purge_channel` empties them (import job
chats go with their jobs, `contacts` are the tenant's: see `purge_channel`)."""


def update_channel(
    connection: Connection,
    channel_id: int,
    changes: Mapping[str, Any],
    *,
    secrets: SecretBox,
    trusted: bool,
) -> None:
    """Set the channel's settings named in `changes` (keys of `SETTINGS`; None: the default,
    which for `waha_session` is the channel's name). `trusted`: the operator gave the WAHA URL
    (the CLI), not a tenant (the API). ChannelConflict when the WAHA session (URL and session)
    would be another channel's; NotFoundError for no such channel."""
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise ValueError(f"not channel settings: {', '.join(sorted(unknown))}")
    row = connection.execute(select(channels).where(channels.c.id == channel_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no channel {channel_id}")
    values: dict[str, Any] = {}
    if "waha_url" in changes:
        values["waha_url"] = changes["waha_url"] or None
        values["waha_url_trusted"] = bool(changes["waha_url"]) and trusted
    if "waha_session" in changes:
        values["waha_session"] = changes["waha_session"] or row.name
    url = values.get("waha_url", row.waha_url)
    session = values.get("waha_session", row.waha_session)
    if url and ({"waha_url", "waha_session"} & set(changes)):
        owner = waha_owner(connection, url, session, but=channel_id)
        if owner is not None:
            who = (
                f"channel {owner.name!r}"
                if owner.tenant_id == row.tenant_id
                else "a channel of another tenant"
            )
            raise ChannelConflict(
                f"{who} already takes WAHA session {session!r} at {url}: its webhooks could not"
                " tell the two apart (use that channel, or another session)"
            )
    for name in _SEALED:
        if name in changes:
            values[name] = secrets.seal(changes[name]) if changes[name] else None
    for name in _PLAIN:
        if name in changes:
            values[name] = changes[name]
    if "handoff_minutes" in changes:
        minutes = changes["handoff_minutes"]
        values["handoff_minutes"] = None if minutes is None else int(minutes)
    if "session_timeout_minutes" in changes:
        values["session_timeout_seconds"] = _seconds(changes["session_timeout_minutes"])
    if values:
        values["updated_at"] = datetime.now(UTC)
        connection.execute(update(channels).where(channels.c.id == channel_id).values(values))


def purge_channel(connection: Connection, channel_id: int) -> dict[str, int]:
    """Delete the channel and every row of it (call in one transaction; cancel its imports
    first, `cancels.cancel_channel_jobs`, so their runs stop). The tenant's contacts that no
    other channel has (no chat, message or agent job of another channel names them) go too.
    Rows deleted by table."""
    tenant_id = connection.execute(
        select(channels.c.tenant_id).where(channels.c.id == channel_id)
    ).scalar_one_or_none()
    if tenant_id is None:
        raise NotFoundError(f"no channel {channel_id}")
    deleted: dict[str, int] = {}
    known = union(
        select(messages.c.contact_id).where(messages.c.channel_id == channel_id),
        select(chats.c.contact_id).where(chats.c.channel_id == channel_id),
        select(agent_jobs.c.contact_id).where(agent_jobs.c.channel_id == channel_id),
    ).subquery()
    elsewhere = [
        exists().where(table.c.contact_id == contacts.c.id, table.c.channel_id != channel_id)
        for table in (messages, chats, agent_jobs)
    ]
    own_contacts = [
        row
        for row in connection.execute(
            select(contacts.c.id).where(
                contacts.c.tenant_id == tenant_id,
                contacts.c.id.in_(select(known.c.contact_id)),
                *[~other for other in elsewhere],
            )
        ).scalars()
    ]
    jobs_of_channel = select(import_jobs.c.id).where(import_jobs.c.channel_id == channel_id)
    deleted["import_job_chats"] = connection.execute(
        delete(import_job_chats).where(import_job_chats.c.job_id.in_(jobs_of_channel))
    ).rowcount
    for table in CHANNEL_TABLES:
        result = connection.execute(delete(table).where(table.c.channel_id == channel_id))
        deleted[table.name] = result.rowcount
    deleted["contacts"] = 0
    for start in range(0, len(own_contacts), 5_000):
        part = own_contacts[start : start + 5_000]
        deleted["contacts"] += connection.execute(
            delete(contacts).where(contacts.c.id.in_(part))
        ).rowcount
    deleted["channels"] = connection.execute(
        delete(channels).where(channels.c.id == channel_id)
    ).rowcount
    return deleted


def tenant_settings(connection: Connection, name: str) -> Any:
    """The tenant's row (id, name, session_timeout_seconds); NotFoundError for none."""
    row = connection.execute(
        select(tenants.c.id, tenants.c.name, tenants.c.session_timeout_seconds).where(
            tenants.c.name == name
        )
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no tenant {name!r}")
    return row


def all_tenants(connection: Connection) -> list[Any]:
    """Every tenant (id, name, session_timeout_seconds) by name."""
    query = select(tenants.c.id, tenants.c.name, tenants.c.session_timeout_seconds)
    return list(connection.execute(query.order_by(tenants.c.name)))


def set_tenant_timeout(connection: Connection, tenant_id: int, minutes: float | None) -> None:
    """The tenant's session timeout, for its channels without their own (None: the global
    `CHATPORT_SESSION_TIMEOUT_MINUTES`)."""
    connection.execute(
        update(tenants)
        .where(tenants.c.id == tenant_id)
        .values(session_timeout_seconds=_seconds(minutes), updated_at=datetime.now(UTC))
    )


def _seconds(minutes: float | None) -> int | None:
    return None if minutes is None else max(1, round(minutes * 60))
