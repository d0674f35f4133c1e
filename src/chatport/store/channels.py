"""Read-side queries: channels, chats, sessions, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, insert, select, update

from chatport.domain.model import Channel, Message
from chatport.domain.sessions import partition
from chatport.errors import ChannelConflict, NotFoundError
from chatport.store.secret_box import SecretBox
from chatport.store.tables import STABLE_TABLES, channels, messages, metadata, tenants


def get_channel(
    connection: Connection, name: str, tenant: str, default_timeout: timedelta
) -> Channel:
    """A channel by tenant and channel name; its session timeout is resolved
    channel override -> tenant default -> `default_timeout`."""
    row = connection.execute(
        select(
            channels.c.id,
            channels.c.tenant_id,
            channels.c.name,
            channels.c.waha_session,
            channels.c.agent_url,
            channels.c.agent_groups,
            channels.c.handoff_minutes,
            channels.c.session_timeout_seconds.label("channel_timeout"),
            tenants.c.session_timeout_seconds.label("tenant_timeout"),
        )
        .join(tenants, tenants.c.id == channels.c.tenant_id)
        .where(tenants.c.name == tenant, channels.c.name == name)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no channel {name!r} in tenant {tenant!r}")
    seconds = row.channel_timeout or row.tenant_timeout
    return Channel(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        waha_session=row.waha_session,
        session_timeout=timedelta(seconds=seconds) if seconds else default_timeout,
        has_agent=bool(row.agent_url),
        agent_groups=row.agent_groups,
        handoff_minutes=row.handoff_minutes,
    )


def table_counts(connection: Connection) -> dict[str, int]:
    """Row counts of the stable tables."""
    return {
        name: connection.execute(
            select(func.count()).select_from(metadata.tables[name])
        ).scalar_one()
        for name in STABLE_TABLES
    }


def create_channel(
    connection: Connection,
    name: str,
    *,
    tenant: str = "default",
    waha_session: str | None = None,
    session_timeout: timedelta | None = None,
    default_timeout: timedelta,
) -> Channel:
    """Create a channel in an existing tenant and return it."""
    tenant_id = connection.execute(
        select(tenants.c.id).where(tenants.c.name == tenant)
    ).scalar_one_or_none()
    if tenant_id is None:
        raise NotFoundError(f"no tenant {tenant!r}")
    now = datetime.now(UTC)
    connection.execute(
        insert(channels).values(
            tenant_id=tenant_id,
            name=name,
            waha_session=waha_session or name,
            session_timeout_seconds=int(session_timeout.total_seconds())
            if session_timeout
            else None,
            created_at=now,
            updated_at=now,
        )
    )
    return get_channel(connection, name, tenant, default_timeout)


def remember_waha(
    connection: Connection,
    channel: Channel,
    url: str,
    session: str,
    api_key: str | None,
    *,
    trusted: bool = False,
    secrets: SecretBox,
) -> None:
    """Store where the channel's WAHA is, so resumes and retries can reach it again (the API
    key sealed by `secrets`); `trusted`: the operator gave the URL (the CLI), not a tenant
    (the API). ChannelConflict when another channel has that WAHA session (`waha_owner`)."""
    owner = waha_owner(connection, url, session, but=channel.id)
    if owner is not None:
        who = (
            f"channel {owner.name!r}"
            if owner.tenant_id == channel.tenant_id
            else ("a channel of another tenant")
        )
        raise ChannelConflict(
            f"{who} already takes WAHA session {session!r} at {url}: its webhooks could not"
            f" tell the two apart (use that channel, or another session)"
        )
    connection.execute(
        update(channels)
        .where(channels.c.id == channel.id)
        .values(
            waha_url=url,
            waha_session=session,
            waha_api_key=secrets.seal(api_key),
            waha_url_trusted=trusted,
            updated_at=datetime.now(UTC),
        )
    )


def waha_owner(connection: Connection, url: str, session: str, *, but: int) -> Any:
    """The channel other than `but` configured for WAHA session `session` at `url` (the same
    server: URLs compared without case and trailing slashes), or None. One WAHA session, one
    channel: several WAHA servers may each have a session of one name (WAHA Core's only
    session is `default`), told apart by their numbers; one server's session is one number."""
    rows = connection.execute(
        select(channels.c.id, channels.c.tenant_id, channels.c.name, channels.c.waha_url)
        .where(channels.c.waha_session == session, channels.c.id != but)
        .order_by(channels.c.id)
    ).all()
    server = _server(url)
    return next((row for row in rows if row.waha_url and _server(row.waha_url) == server), None)


def _server(url: str) -> str:
    return url.strip().rstrip("/").lower()


class WahaAddress(NamedTuple):
    """Where a channel's WAHA is, as stored (the API key opened); `trusted`: the operator gave
    the URL."""

    url: str | None
    session: str
    api_key: str | None
    trusted: bool


def waha_of(connection: Connection, channel_id: int, *, secrets: SecretBox) -> WahaAddress:
    """The channel's stored WAHA url, session and API key (opened by `secrets`: clear), and
    whether the URL is trusted."""
    row = connection.execute(
        select(
            channels.c.waha_url,
            channels.c.waha_session,
            channels.c.waha_api_key,
            channels.c.waha_url_trusted,
        ).where(channels.c.id == channel_id)
    ).one()
    return WahaAddress(
        row.waha_url, row.waha_session, secrets.open(row.waha_api_key), row.waha_url_trusted
    )


SECRET_COLUMNS = ("waha_api_key", "webhook_hmac_key")
"""The channel columns `SecretBox` seals: written and read only by this module's functions
and `reads.webhooks.webhook_key` / `reads.api.set_webhook_key`."""


def reseal_secrets(connection: Connection, secrets: SecretBox) -> tuple[int, int]:
    """Seal every stored channel secret with the newest key of `secrets` (clear ones too);
    (values rewritten, values stored). SecretKeyError, before anything is written, when no
    key is set or a value opens with none of them."""
    columns = [channels.c[name] for name in SECRET_COLUMNS]
    rows = connection.execute(select(channels.c.id, *columns).order_by(channels.c.id)).all()
    stored = 0
    changes: list[tuple[int, dict[str, str]]] = []
    for row in rows:
        values = {}
        for name in SECRET_COLUMNS:
            value = getattr(row, name)
            if value is None:
                continue
            stored += 1
            resealed = secrets.reseal(value)
            if resealed is not None:
                values[name] = resealed
        if values:
            changes.append((row.id, values))
    for channel_id, values in changes:  # the channel itself is unchanged: not `updated_at`
        connection.execute(update(channels).where(channels.c.id == channel_id).values(**values))
    return sum(len(values) for _, values in changes), stored


def channel_by_id(connection: Connection, channel_id: int, default_timeout: timedelta) -> Channel:
    """A channel by id."""
    row = connection.execute(
        select(channels.c.name, tenants.c.name.label("tenant"))
        .join(tenants, tenants.c.id == channels.c.tenant_id)
        .where(channels.c.id == channel_id)
    ).one()
    return get_channel(connection, row.name, row.tenant, default_timeout)


def sessions_follow_the_rule(engine: Engine, channel_id: int, timeout: timedelta) -> bool:
    """Whether the channel's stored sessions are exactly what the session rule gives over
    its whole stored history at once, `timeout` being the channel's session timeout (a check
    for demos and tests: it reads every message)."""
    query = select(
        messages.c.external_id, messages.c.chat_id, messages.c.sent_at, messages.c.session_id
    ).where(messages.c.channel_id == channel_id)
    stored: dict[str, dict[str, object]] = {}
    history: dict[str, list[Message]] = {}
    with engine.connect() as connection:
        for external_id, chat_id, sent_at, session_id in connection.execute(query):
            stored.setdefault(chat_id, {})[external_id] = session_id
            history.setdefault(chat_id, []).append(
                Message(external_id, chat_id, sent_at, False, None, None, "text", None, None)
            )
    for chat_id, chat_messages in history.items():
        by_session: dict[object, set[str]] = {}
        for external_id, session_id in stored[chat_id].items():
            by_session.setdefault(session_id, set()).add(external_id)
        expected = partition(chat_messages, timeout)
        if {frozenset(group) for group in by_session.values()} != {
            frozenset(m.external_id for m in session) for session in expected
        }:
            return False
    return True
