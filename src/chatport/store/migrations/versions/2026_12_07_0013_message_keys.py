"""message keys

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

A message's identity becomes `message_key`, `{fromMe}_{chat}_{WhatsApp id}` (`domain.keys`):
unique per channel instead of the source's id (`external_id`, kept verbatim, no longer
indexed: a message named by it is found by the keys it names). Existing rows are keyed from
their own columns (the chat they are stored in, the WhatsApp id read from a WAHA-form
`external_id`, else the id itself), in slices of `SLICE` rows. Rows that turn out to be the
same message (one seen through WAHA as `…@lid_…` and through Baileys as `…@c.us_…` once both
were in the phone chat) become one: the oldest row stays (with the highest ack and the first
revoke of the two), the others go, and their sessions' spans and counts are read again from
the messages left (a session left empty goes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SLICE = 20_000
KEY_LENGTH = 400

messages = sa.table(
    "messages",
    sa.column("id", sa.BigInteger()),
    sa.column("channel_id", sa.BigInteger()),
    sa.column("external_id", sa.String()),
    sa.column("message_key", sa.String()),
    sa.column("chat_id", sa.String()),
    sa.column("from_me", sa.Boolean()),
    sa.column("session_id", sa.Uuid()),
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("ack", sa.SmallInteger()),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)
sessions = sa.table(
    "sessions",
    sa.column("id", sa.Uuid()),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("last_activity_at", sa.DateTime(timezone=True)),
    sa.column("message_count", sa.Integer()),
)
chats = sa.table(
    "chats",
    sa.column("channel_id", sa.BigInteger()),
    sa.column("chat_id", sa.String()),
    sa.column("last_message_id", sa.String()),
)


def upgrade() -> None:
    op.add_column("messages", sa.Column("message_key", sa.String(KEY_LENGTH), nullable=True))
    connection = op.get_bind()
    # Most keys are the id itself (WAHA's and Baileys' ids of 1:1 chats, exports, agents):
    # one statement; then the rows whose id is another chat's or carries a participant.
    connection.execute(sa.update(messages).values(message_key=messages.c.external_id))
    _key_the_others(connection)
    _merge_duplicates(connection)
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("message_key", existing_type=sa.String(KEY_LENGTH), nullable=False)
        batch.drop_constraint("uq_messages_channel_id_external_id", type_="unique")
        batch.create_unique_constraint(
            "uq_messages_channel_id_message_key", ["channel_id", "message_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_channel_id_message_key", type_="unique")
        batch.create_unique_constraint(
            "uq_messages_channel_id_external_id", ["channel_id", "external_id"]
        )
        batch.drop_column("message_key")


def _key_the_others(connection: sa.Connection) -> None:
    side = sa.case((messages.c.from_me, "true_"), else_="false_")
    own_prefix = side + messages.c.chat_id + "_"
    waha_form = sa.or_(
        messages.c.external_id.like("true\\_%", escape="\\"),
        messages.c.external_id.like("false\\_%", escape="\\"),
    )
    other = sa.or_(
        messages.c.chat_id.like("%@g.us"),
        sa.func.substr(messages.c.external_id, 1, sa.func.length(own_prefix)) != own_prefix,
    )
    columns = (messages.c.id, messages.c.external_id, messages.c.chat_id, messages.c.from_me)
    last = 0
    while True:
        rows = connection.execute(
            sa.select(*columns)
            .where(messages.c.id > last, waha_form, other)
            .order_by(messages.c.id)
            .limit(SLICE)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        keys = [
            {"row_id": row.id, "key": _key(row.from_me, row.chat_id, row.external_id)}
            for row in rows
        ]
        connection.execute(
            sa.update(messages)
            .where(messages.c.id == sa.bindparam("row_id"))
            .values(message_key=sa.bindparam("key")),
            keys,
        )


def _key(from_me: bool, chat_id: str, external_id: str) -> str:
    """`domain.keys.message_key` of a stored row, as of this revision."""
    wa_id = _whatsapp_id(external_id)
    if wa_id is None:
        return external_id
    return f"{'true' if from_me else 'false'}_{chat_id}_{wa_id}"


def _whatsapp_id(external_id: str) -> str | None:
    side, sep, rest = external_id.partition("_")
    if not sep or side not in ("false", "true"):
        return None
    chat, sep, tail = rest.partition("_")
    if not sep or not tail or "@" not in chat:
        return None
    head, sep, participant = tail.rpartition("_")
    if sep and head and "@" in participant:
        return head
    return tail


def _merge_duplicates(connection: sa.Connection) -> None:
    """One row per (channel, key): the oldest; see the module. A few statements, whatever
    the number of duplicates."""
    twice = (
        sa.select(messages.c.channel_id, messages.c.message_key)
        .group_by(messages.c.channel_id, messages.c.message_key)
        .having(sa.func.count() > 1)
        .subquery()
    )
    rows = connection.execute(
        sa.select(messages)
        .join(
            twice,
            sa.and_(
                messages.c.channel_id == twice.c.channel_id,
                messages.c.message_key == twice.c.message_key,
            ),
        )
        .order_by(messages.c.channel_id, messages.c.message_key, messages.c.id)
    ).all()
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((row.channel_id, row.message_key), []).append(row)
    if not groups:
        return
    kept_states, dropped, previews, touched = [], [], [], set()
    for group in groups.values():
        kept = group[0]
        acks = [row.ack for row in group if row.ack is not None]
        revokes = [row.revoked_at for row in group if row.revoked_at is not None]
        kept_states.append(
            {"row_id": kept.id, "ack": max(acks, default=None), "at": min(revokes, default=None)}
        )
        touched.add(kept.session_id)
        for row in group[1:]:
            dropped.append({"row_id": row.id})
            touched.add(row.session_id)
            previews.append(
                {
                    "c_channel": row.channel_id,
                    "c_chat": row.chat_id,
                    "c_old": row.external_id,
                    "c_new": kept.external_id,
                }
            )
    by_id = messages.c.id == sa.bindparam("row_id")
    connection.execute(
        sa.update(messages)
        .where(by_id)
        .values(ack=sa.bindparam("ack"), revoked_at=sa.bindparam("at")),
        kept_states,
    )
    connection.execute(sa.delete(messages).where(by_id), dropped)
    connection.execute(
        sa.update(chats)
        .where(
            chats.c.channel_id == sa.bindparam("c_channel"),
            chats.c.chat_id == sa.bindparam("c_chat"),
            chats.c.last_message_id == sa.bindparam("c_old"),
        )
        .values(last_message_id=sa.bindparam("c_new")),
        previews,
    )
    _respan(connection, sorted(touched, key=str))


def _respan(connection: sa.Connection, session_ids: list) -> None:
    """Sessions' spans and counts read again from their messages; empty ones deleted."""
    mine = messages.c.session_id == sessions.c.id

    def of_session(value: sa.ColumnElement) -> sa.ScalarSelect:
        return sa.select(value).where(mine).scalar_subquery()

    params = [{"s_id": session_id} for session_id in session_ids]
    this = sessions.c.id == sa.bindparam("s_id")
    connection.execute(sa.delete(sessions).where(this, ~sa.exists().where(mine)), params)
    connection.execute(
        sa.update(sessions)
        .where(this)
        .values(
            started_at=of_session(sa.func.min(messages.c.sent_at)),
            last_activity_at=of_session(sa.func.max(messages.c.sent_at)),
            message_count=of_session(sa.func.count()),
        ),
        params,
    )
