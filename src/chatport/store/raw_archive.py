"""The source payloads of messages (`messages.raw_block`, `raw_line`), archived by block.

A message's raw payload (the WAHA, Baileys or export record it came from) is rarely read and
was most of its row. Payloads are kept in `message_raws`, up to BLOCK_LINES consecutive
messages of one write per row: their JSON texts, one per line (a JSON text holds a newline
only as whitespace between tokens, which a space replaces without changing its value), joined
by `\\n` and compressed with Zstandard (`codec` `zstd`). Payloads of the same source share
most of their text, so a block of a few hundred compresses some twelvefold; a single live
message about by half. A message names its block and its line (from 0); one without a
payload names none.

So `zstd -d` of a block's `data` gives JSON Lines that any tool reads. A block is written once
with its messages and never changed; a message deleted later leaves its line unread; the
blocks of a channel go with the channel (`channel_id`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from chatport.store import jsoncodec
from chatport.store.tables import message_raws, messages

try:  # Python 3.14's standard library; its backport before
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd  # type: ignore[import-not-found,no-redef]

BLOCK_LINES = 1_024
"""Payloads per block at most: enough for Zstandard to find what payloads share (a block of
100 compresses nearly as well as one of 10,000), few enough that reading one message's
payload decompresses some 500 KB, not megabytes."""
CODEC = "zstd"
LEVEL = 3
"""Zstandard's default level: about 1 µs per payload, a fraction of the write path's cost."""
RAW_COLUMNS = ("id", "channel_id", "codec", "lines", "data", "created_at")
"""The order of the values of a `message_raws` row handed to the bulk paths."""


def pack(payloads: Sequence[bytes]) -> bytes:
    """One block's `data`: the JSON texts one per line, compressed."""
    return zstd.compress(b"\n".join(_one_line(p) for p in payloads), level=LEVEL)


def unpack(codec: str, data: bytes) -> list[bytes]:
    """The JSON texts of a block, by line."""
    if codec != CODEC:
        raise ValueError(f"unknown raw payload codec {codec!r}")
    return zstd.decompress(data).split(b"\n")


def _one_line(payload: bytes) -> bytes:
    # A search for one byte is a memchr: most payloads have no newline at all.
    return payload.replace(b"\n", b" ") if b"\n" in payload else payload


@dataclass
class BlockWriter:
    """Assigns the payloads of one write to blocks (`add` gives a message's block and line)
    and packs each block as soon as it is full, while the message rows are still being
    written; `rows()` gives the `message_raws` rows (RAW_COLUMNS) to insert after them."""

    channel_id: int
    block_ids: Sequence[int]
    """Ids allocated for this write's blocks (`BulkOps.allocate_raw_blocks`)."""
    created_at: Any
    """The write's time, encoded for the back end."""
    _pending: list[bytes] = field(default_factory=list)
    _packed: list[tuple] = field(default_factory=list)

    def add(self, payload: Any) -> tuple[int | None, int | None]:
        """Archive `payload` (a RawPayload, or None: nothing); its (block id, line)."""
        if payload is None:
            return None, None
        if len(self._pending) == BLOCK_LINES:
            self._pack()
        self._pending.append(jsoncodec.dumps(payload))
        return self.block_ids[len(self._packed)], len(self._pending) - 1

    def rows(self) -> list[tuple]:
        if self._pending:
            self._pack()
        return self._packed

    def _pack(self) -> None:
        block_id = self.block_ids[len(self._packed)]
        lines = len(self._pending)
        data = pack(self._pending)
        self._packed.append((block_id, self.channel_id, CODEC, lines, data, self.created_at))
        self._pending = []


def blocks_needed(payloads: int) -> int:
    """How many blocks a write of `payloads` payloads fills."""
    return -(-payloads // BLOCK_LINES)


def raw_payloads(connection: Connection, message_ids: Iterable[int]) -> dict[int, bytes]:
    """The raw payloads (JSON text) of the messages `message_ids` that have one, by message
    id; each block read and decompressed once."""
    ids = list(message_ids)
    where: dict[int, list[tuple[int, int]]] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        for message_id, block, line in connection.execute(
            select(messages.c.id, messages.c.raw_block, messages.c.raw_line).where(
                messages.c.id.in_(ids[start : start + _IDS_PER_QUERY]),
                messages.c.raw_block.is_not(None),
            )
        ):
            where.setdefault(block, []).append((message_id, line))
    out: dict[int, bytes] = {}
    blocks = list(where)
    for start in range(0, len(blocks), _IDS_PER_QUERY):
        for block, codec, data in connection.execute(
            select(message_raws.c.id, message_raws.c.codec, message_raws.c.data).where(
                message_raws.c.id.in_(blocks[start : start + _IDS_PER_QUERY])
            )
        ):
            lines = unpack(codec, data)
            out.update((message_id, lines[line]) for message_id, line in where[block])
    return out


_IDS_PER_QUERY = 10_000
"""Ids bound in one query at most (SQLite and PostgreSQL bound the parameters of one)."""


def raw_payload(connection: Connection, message_id: int) -> Any:
    """The raw payload of message `message_id`, parsed; None when it has none."""
    found = raw_payloads(connection, [message_id]).get(message_id)
    return None if found is None else jsoncodec.loads(found)


def encode_blocks(
    channel_id: int, block_ids: Sequence[int], payloads: Sequence[Any], created_at: Any
) -> tuple[list[tuple[int | None, int | None]], list[tuple]]:
    """Every payload's (block id, line) and the blocks' rows, for writers that build their
    rows in advance (benchmarks, tests)."""
    writer = BlockWriter(channel_id, block_ids, created_at)
    places = [writer.add(payload) for payload in payloads]
    return places, writer.rows()
