"""Benchmark: the write path against the raw bulk insert of the same rows, in one run.

    python bench/write_batch.py [--backend sqlite|postgresql|both] [--messages 1000000]
        [--chats 10000] [--chunk 5000]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

The synthetic history (whole chats packed into chunks of about --chunk messages, as the import
pipeline chunks) is generated first and not timed. Then, for each back end:

  normalise  `prepare_batch` over every chunk (validation, JIDs, timestamps, text): the
             pipeline's normalise stage, pure CPU, no database;
  ours       every prepared chunk through `Database.write_batch` on a fresh database: chats
             (locked), the duplicate check, contacts, the session rule against the stored
             neighbour sessions, messages, chat previews, outbox events; one transaction each;
  raw        the same final message rows, built in advance, inserted on another fresh
             database into the same indexed `messages` table with the back end's fastest plain
             bulk insert (executemany INSERT on SQLite, binary COPY straight into the table on
             PostgreSQL), one transaction per chunk: the physical limit here; with them, the
             chunk's payload blocks into `message_raws`, compressed in advance too;
             ours and raw alternate chunk by chunk, so machine noise hits both alike;
  rerun      the same chunks through the write path again (everything is a duplicate).

Figures: ratio = raw time / ours time (the write path's target); ratio_incl_normalise =
raw time / (normalise + ours). Prints one `key=value` line per back end, then a last line
with the ratios of all back ends. Compare ratios, not seconds, across machines.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from chatport.bootstrap import build_database
from chatport.domain.batch import PreparedBatch, prepare_batch
from chatport.domain.model import IncomingMessage, Origin
from chatport.domain.sessions import partition, session_id_for
from chatport.settings import Settings
from chatport.store.backends.bulk import MESSAGE_COLUMNS, insert_sql
from chatport.store.backends.postgres import copy_rows
from chatport.store.migrate import upgrade
from chatport.store.raw_archive import RAW_COLUMNS, blocks_needed, encode_blocks
from chatport.store.tables import message_raws, messages
from chatport.synthetic import synthetic_history


def chunks(messages: int, chats: int, chunk: int) -> list[list[IncomingMessage]]:
    """Whole chats packed into chunks of about `chunk` messages (import pipeline style)."""
    out: list[list[IncomingMessage]] = [[]]
    for chat in synthetic_history(chats, messages, seed=7):
        if out[-1] and len(out[-1]) + len(chat.messages) > chunk:
            out.append([])
        out[-1].extend(chat.messages)
    return out


@contextmanager
def fresh_database(backend: str, postgres_url: str) -> Iterator[str]:
    """A new, migrated, empty database URL; dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            _migrate(url)
            yield url
        return
    import psycopg

    name = f"chatport_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
        _migrate(url)
        yield url
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def stored(database_url: str) -> int:
    """How many messages the database at `database_url` holds."""
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(messages)).scalar_one()
    finally:
        database.dispose()


def _migrate(url: str) -> None:
    database = build_database(Settings(database_url=url), check_schema=False)
    upgrade(database.engine)
    database.dispose()


def timed_normalise(work: list[list[IncomingMessage]]) -> tuple[float, list[PreparedBatch]]:
    start = time.perf_counter()
    prepared = [prepare_batch(chunk) for chunk in work]
    return time.perf_counter() - start, prepared


Chunk = tuple[list[tuple], list[tuple]]
"""A chunk's final rows: its messages' and its payload blocks'."""


def run_interleaved(
    ours_url: str, raw_url: str, work: list[PreparedBatch], rows: list[Chunk]
) -> tuple[float, float, float]:
    """Write chunk i through the write path, then insert chunk i raw, and so on: both see the
    same machine at the same moments, so background noise hits both alike."""
    ours_db = build_database(Settings(database_url=ours_url))
    raw_db = build_database(Settings(database_url=raw_url))
    channel = ours_db.channel()
    ours = raw = 0.0
    for batch, chunk in zip(work, rows, strict=True):
        start = time.perf_counter()
        assert ours_db.write_batch(channel, batch, origin=Origin.IMPORT).created == len(chunk[0])
        ours += time.perf_counter() - start
        start = time.perf_counter()
        insert_plainly(raw_db.engine, raw_db.backend, chunk)
        raw += time.perf_counter() - start
    start = time.perf_counter()
    for batch in work:
        assert ours_db.write_batch(channel, batch, origin=Origin.IMPORT).created == 0
    rerun = time.perf_counter() - start
    ours_db.dispose()
    raw_db.dispose()
    return ours, raw, rerun


def insert_plainly(engine: Engine, backend: str, chunk: Chunk) -> None:
    """One transaction: the back end's fastest plain bulk insert of a chunk's rows."""
    message_rows, block_rows = chunk
    connection = engine.connect().execution_options(sqlite_write=True)
    with connection, connection.begin():
        if backend == "sqlite":
            connection.exec_driver_sql(insert_sql("messages", MESSAGE_COLUMNS, "?"), message_rows)
            if block_rows:
                sql = insert_sql("message_raws", RAW_COLUMNS, "?")
                connection.exec_driver_sql(sql, block_rows)
        else:
            with connection.connection.driver_connection.cursor() as cursor:
                copy_rows(cursor, messages, MESSAGE_COLUMNS, message_rows)
                if block_rows:
                    copy_rows(cursor, message_raws, RAW_COLUMNS, block_rows)


def raw_rows(url: str, work: list[PreparedBatch]) -> list[Chunk]:
    """The rows the write path stores, built in advance (not timed): each chunk's messages
    and its payloads' blocks, compressed."""
    database = build_database(Settings(database_url=url))
    channel = database.channel()
    ops = database.ops
    now = datetime.now(UTC)
    created_at = ops.encode_time(now)
    out: list[Chunk] = []
    next_block = 1
    for batch in work:
        by_chat: dict[str, list] = {}
        for message in batch.messages:
            by_chat.setdefault(message.chat_id, []).append(message)
        session_of = {}
        for chat_messages in by_chat.values():
            for session in partition(chat_messages, channel.session_timeout):
                sid = ops.encode_uuid(session_id_for(channel.key, session[0].external_id))
                session_of.update((m.external_id, sid) for m in session)
        values = {
            "tenant_id": channel.tenant_id,
            "channel_id": channel.id,
            "media_url": None,
            "media_mime": None,
            "media_filename": None,
            "media_size": None,
            "origin": "import",
            "created_at": created_at,
        }
        payloads = [m.raw for m in batch.messages]
        needed = blocks_needed(sum(1 for p in payloads if p is not None))
        block_ids = range(next_block, next_block + needed)
        next_block += needed
        places, blocks = encode_blocks(channel.id, block_ids, payloads, created_at)
        chunk = []
        for m, (raw_block, raw_line) in zip(batch.messages, places, strict=True):
            values.update(
                external_id=m.external_id,
                message_key=getattr(m, "key", m.external_id),
                chat_id=m.chat_id,
                contact_id=1 if m.author else None,
                session_id=session_of[m.external_id],
                sent_at=ops.encode_time(m.sent_at),
                from_me=m.from_me,
                content_type=m.content_type,
                text=m.text,
                raw_block=raw_block,
                raw_line=raw_line,
            )
            chunk.append(tuple(values[column] for column in MESSAGE_COLUMNS))
        out.append((chunk, blocks))
    database.dispose()
    return out


def bench(backend: str, args: argparse.Namespace) -> dict[str, str]:
    normalise, work = timed_normalise(chunks(args.messages, args.chats, args.chunk))
    total = sum(len(batch.messages) for batch in work)
    with (
        fresh_database(backend, args.postgres_url) as ours_url,
        fresh_database(backend, args.postgres_url) as raw_url,
    ):
        rows = raw_rows(raw_url, work)
        # The whole input is held in memory here, unlike a streaming import whose memory is
        # one chunk: keep the collector from rescanning it during the timed runs.
        gc.collect()
        gc.freeze()
        ours, raw, rerun = run_interleaved(ours_url, raw_url, work, rows)
        gc.unfreeze()
    del rows
    figures = {
        "backend": backend,
        "messages": str(total),
        "chats": str(args.chats),
        "chunks": str(len(work)),
        "msgs_per_s": f"{total / ours:.0f}",
        "raw_per_s": f"{total / raw:.0f}",
        "ratio": f"{raw / ours:.3f}",
        "normalise_per_s": f"{total / normalise:.0f}",
        "ratio_incl_normalise": f"{raw / (normalise + ours):.3f}",
        "rerun_per_s": f"{total / rerun:.0f}",
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="an administrative URL; the benchmark creates and drops its own databases",
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [bench(backend, args) for backend in backends]
    print(
        " ".join(
            f"{r['backend']}_ratio={r['ratio']} "
            f"{r['backend']}_ratio_incl_normalise={r['ratio_incl_normalise']}"
            for r in results
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
