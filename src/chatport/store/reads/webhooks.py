"""What the webhook routes read besides the live path's reads (`store/webhook_receipts.py`):
a channel's own HMAC key, a channel name still free."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatport.store.tables import channels


def webhook_key(connection: Connection, channel_id: int) -> str | None:
    """The channel's own webhook HMAC key (None: it has none)."""
    query = select(channels.c.webhook_hmac_key).where(channels.c.id == channel_id)
    return connection.execute(query).scalar_one()


def free_channel_name(connection: Connection, base: str) -> str:
    """`base` when no channel has that name, else the first of `base-2`, `base-3`, … none has
    (across tenants)."""
    taken = set(connection.execute(select(channels.c.name)).scalars())
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name
