"""What the webhook routes read besides the live path's reads (`store/webhook_receipts.py`):
a channel's own HMAC key (opened by the database's `SecretBox`), whether any channel has one, a
channel name still free."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatport.store.secret_box import SecretBox
from chatport.store.tables import channels


def webhook_key(connection: Connection, channel_id: int, *, secrets: SecretBox) -> str | None:
    """The channel's own webhook HMAC key, opened by `secrets` (None: it has none);
    SecretKeyError when it is sealed and `secrets` cannot open it."""
    query = select(channels.c.webhook_hmac_key).where(channels.c.id == channel_id)
    return secrets.open(connection.execute(query).scalar_one())


def any_channel_key(connection: Connection) -> bool:
    """Whether some channel has a webhook HMAC key of its own."""
    column = channels.c.webhook_hmac_key
    query = select(channels.c.id).where(column.is_not(None), column != "").limit(1)
    return connection.execute(query).first() is not None


def free_channel_name(connection: Connection, base: str) -> str:
    """`base` when no channel has that name, else the first of `base-2`, `base-3`, … none has
    (across tenants)."""
    taken = set(connection.execute(select(channels.c.name)).scalars())
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name
