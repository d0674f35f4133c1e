"""What `chatport demo --live` reads to show its verdict: the messages a channel holds."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, select

from chatport.store.tables import messages


def message_ids(connection: Connection, channel_id: int) -> Counter[str]:
    """How many times each message id is stored in the channel, agents' replies aside."""
    query = select(messages.c.external_id).where(
        messages.c.channel_id == channel_id, messages.c.origin != "agent"
    )
    return Counter(connection.execute(query).scalars())
