"""The seeds' V1 import, for comparison only: one transaction per message, with find-or-create
of contact, chat and session by SELECT then INSERT/UPDATE (no batching, no locks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import desc, insert, select, update

from chatport.domain.batch import prepare_batch
from chatport.domain.model import IncomingMessage
from chatport.store.database import Database
from chatport.store.tables import chats, contacts, messages, sessions


def write_v1(database: Database, incoming: list[IncomingMessage], timeout: timedelta) -> None:
    channel = database.channel()
    for item in incoming:
        prepared = prepare_batch([item]).messages
        if not prepared:
            continue
        m = prepared[0]
        now = datetime.now(UTC)
        connection = database.engine.connect().execution_options(sqlite_write=True)
        with connection, connection.begin():
            if connection.execute(
                select(messages.c.id).where(
                    messages.c.channel_id == channel.id, messages.c.message_key == m.key
                )
            ).first():
                continue
            contact_id = None
            if m.author is not None:
                contact_id = connection.execute(
                    select(contacts.c.id).where(
                        contacts.c.tenant_id == channel.tenant_id,
                        contacts.c.wa_id == m.author.wa_id,
                    )
                ).scalar()
                if contact_id is None:
                    contact_id = connection.execute(
                        insert(contacts)
                        .values(
                            tenant_id=channel.tenant_id,
                            wa_id=m.author.wa_id,
                            name=m.author.name,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(contacts.c.id)
                    ).scalar_one()
            if not connection.execute(
                select(chats.c.id).where(
                    chats.c.channel_id == channel.id, chats.c.chat_id == m.chat_id
                )
            ).first():
                connection.execute(
                    insert(chats).values(
                        tenant_id=channel.tenant_id,
                        channel_id=channel.id,
                        chat_id=m.chat_id,
                        is_group=m.chat_id.endswith("@g.us"),
                        unread_count=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
            last = connection.execute(
                select(sessions.c.id, sessions.c.last_activity_at, sessions.c.message_count)
                .where(sessions.c.channel_id == channel.id, sessions.c.chat_id == m.chat_id)
                .order_by(desc(sessions.c.last_activity_at))
                .limit(1)
            ).first()
            if last is not None and m.sent_at - last.last_activity_at <= timeout:
                session_id = last.id
                connection.execute(
                    update(sessions)
                    .where(sessions.c.id == session_id)
                    .values(
                        last_activity_at=max(last.last_activity_at, m.sent_at),
                        message_count=last.message_count + 1,
                        updated_at=now,
                    )
                )
            else:
                session_id = uuid.uuid4()
                connection.execute(
                    insert(sessions).values(
                        id=session_id,
                        tenant_id=channel.tenant_id,
                        channel_id=channel.id,
                        chat_id=m.chat_id,
                        started_at=m.sent_at,
                        last_activity_at=m.sent_at,
                        message_count=1,
                        status="closed",
                        created_at=now,
                        updated_at=now,
                    )
                )
            connection.execute(
                insert(messages).values(
                    tenant_id=channel.tenant_id,
                    channel_id=channel.id,
                    external_id=m.external_id,
                    message_key=m.key,
                    chat_id=m.chat_id,
                    contact_id=contact_id,
                    session_id=session_id,
                    sent_at=m.sent_at,
                    from_me=m.from_me,
                    content_type=m.content_type,
                    text=m.text,
                    origin="import",
                    created_at=now,
                )
            )
