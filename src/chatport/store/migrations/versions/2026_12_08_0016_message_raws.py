"""message raws

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08

A message's source payload leaves its row for `message_raws`, compressed by block
(`store.raw_archive`): each channel's payloads in message id order, BLOCK_LINES to a block,
one JSON text per line, Zstandard-compressed; the row keeps `raw_block` and `raw_line`.
Existing payloads are moved `BLOCK_LINES` at a time, as their JSON text (PostgreSQL's `jsonb`
text: its key order, the same value), then `messages.raw` is dropped. The space the column
held is free for new rows at once; to give it back to the file system, `VACUUM FULL messages`
(PostgreSQL) or `VACUUM` (SQLite) once, at a quiet time (docs/operations.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

try:  # Python 3.14's standard library; its backport before
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd  # type: ignore[import-not-found,no-redef]

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BLOCK_LINES = 1_024
SLICE = 8 * BLOCK_LINES
CODEC = "zstd"
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")

messages = sa.table(
    "messages",
    sa.column("id", sa.BigInteger()),
    sa.column("channel_id", sa.BigInteger()),
    sa.column("raw", sa.Text()),
    sa.column("raw_block", sa.BigInteger()),
    sa.column("raw_line", sa.SmallInteger()),
)
message_raws = sa.table(
    "message_raws",
    sa.column("id", sa.BigInteger()),
    sa.column("channel_id", sa.BigInteger()),
    sa.column("codec", sa.String()),
    sa.column("lines", sa.Integer()),
    sa.column("data", sa.LargeBinary()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "message_raws",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel_id", Id, nullable=False),
        sa.Column("codec", sa.String(8), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_raws"),
    )
    op.create_index("ix_message_raws_channel_id", "message_raws", ["channel_id"])
    op.add_column("messages", sa.Column("raw_block", Id, nullable=True))
    op.add_column("messages", sa.Column("raw_line", sa.SmallInteger(), nullable=True))
    _move_payloads(op.get_bind())
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("raw")


def downgrade() -> None:
    op.add_column("messages", sa.Column("raw", JSON, nullable=True))
    _restore_payloads(op.get_bind())
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("raw_line")
        batch.drop_column("raw_block")
    op.drop_index("ix_message_raws_channel_id", table_name="message_raws")
    op.drop_table("message_raws")


def _move_payloads(connection: sa.Connection) -> None:
    """The payloads in message id order, SLICE at a time (by the primary key), each channel's
    of a slice in blocks of BLOCK_LINES."""
    now = datetime.now(UTC)
    raw_text = sa.cast(messages.c.raw, sa.Text())
    last = block_id = 0
    while True:
        rows = connection.execute(
            sa.select(messages.c.id, messages.c.channel_id, raw_text)
            .where(messages.c.id > last, messages.c.raw.is_not(None))
            .order_by(messages.c.id)
            .limit(SLICE)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        by_channel: dict[int, list] = {}
        for row in rows:
            by_channel.setdefault(row[1], []).append(row)
        for channel_id, mine in by_channel.items():
            for start in range(0, len(mine), BLOCK_LINES):
                block_id += 1
                _write_block(
                    connection, block_id, channel_id, mine[start : start + BLOCK_LINES], now
                )
    if block_id and connection.dialect.name == "postgresql":  # new blocks follow these
        connection.execute(
            sa.text("SELECT setval('message_raws_id_seq', :last)"), {"last": block_id}
        )


def _write_block(
    connection: sa.Connection, block_id: int, channel_id: int, rows: list, now: datetime
) -> None:
    text = b"\n".join(_one_line(row[2].encode()) for row in rows)
    connection.execute(
        sa.insert(message_raws).values(
            id=block_id,
            channel_id=channel_id,
            codec=CODEC,
            lines=len(rows),
            data=zstd.compress(text, level=3),
            created_at=now,
        )
    )
    ids = [row[0] for row in rows]
    if connection.dialect.name == "postgresql":  # one statement, not one per row
        connection.execute(_PLACE_ROWS, {"block": block_id, "ids": ids})
        return
    connection.execute(
        sa.update(messages)
        .where(messages.c.id == sa.bindparam("row_id"))
        .values(raw_block=block_id, raw_line=sa.bindparam("line")),
        [{"row_id": row_id, "line": line} for line, row_id in enumerate(ids)],
    )


_PLACE_ROWS = sa.text(
    "UPDATE messages SET raw_block = :block, raw_line = v.line - 1 "
    "FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS v(id, line) WHERE messages.id = v.id"
)


def _restore_payloads(connection: sa.Connection) -> None:
    """Every archived payload back into its message's `raw`."""
    value = (
        sa.cast(sa.bindparam("raw"), JSONB())
        if connection.dialect.name == "postgresql"
        else (sa.bindparam("raw"))
    )
    for block_id, codec, data in connection.execute(
        sa.select(message_raws.c.id, message_raws.c.codec, message_raws.c.data)
    ).all():
        if codec != CODEC:
            raise RuntimeError(f"message_raws {block_id}: unknown codec {codec!r}")
        lines = zstd.decompress(data).split(b"\n")
        targets = connection.execute(
            sa.select(messages.c.id, messages.c.raw_line).where(messages.c.raw_block == block_id)
        ).all()
        if targets:
            connection.execute(
                sa.update(messages)
                .where(messages.c.id == sa.bindparam("row_id"))
                .values(raw=value),
                [{"row_id": row_id, "raw": lines[line].decode()} for row_id, line in targets],
            )


def _one_line(payload: bytes) -> bytes:
    return payload.replace(b"\n", b" ") if b"\n" in payload else payload
