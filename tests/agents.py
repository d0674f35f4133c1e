"""Helpers of the tests of what chatport sends: outbound messages and their send states."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from chatport.store import tenants
from chatport.store.channels import remember_waha
from chatport.store.tables import messages, outbound_messages
from tests.integration.test_bursts import CHAT
from tests.waiting import PATIENCE


def sends(database) -> list[tuple]:
    """The outbound messages: (state, attempts, error, sent_id, message external id)."""
    with database.engine.connect() as connection:
        query = select(
            outbound_messages.c.state,
            outbound_messages.c.attempts,
            outbound_messages.c.error,
            outbound_messages.c.sent_id,
            messages.c.external_id,
        ).join(messages, messages.c.id == outbound_messages.c.message_id)
        return [tuple(row) for row in connection.execute(query)]


def agent_messages(database) -> list[tuple]:
    with database.engine.connect() as connection:
        query = select(messages.c.external_id, messages.c.text).where(messages.c.from_me)
        return [tuple(row) for row in connection.execute(query)]


def with_waha(database, url: str) -> None:
    with database.unit_of_work() as uow:
        remember_waha(
            uow.connection, uow.channel(), url, "default", "waha-key", trusted=True,
            secrets=database.secrets,
        )  # fmt: skip
        uow.commit()


def reads_messages(api: str, database) -> list[dict]:
    """The chat's messages through the API, newest first."""
    with database.unit_of_work() as uow:
        tenant, _ = tenants.ensure_tenant(uow.connection, "default")
        key = tenants.create_key(uow.connection, tenant)
        uow.commit()
    found = httpx.get(
        f"{api}/v1/channels/default/chats/{CHAT}/messages",
        headers={"X-Api-Key": key},
        timeout=PATIENCE,
    )
    assert found.status_code == 200, found.text
    return found.json()["items"]
