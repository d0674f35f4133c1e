"""Benchmark: peak memory of `chatport import export` on a large chat text.

    python bench/export_memory.py [--backend sqlite|postgresql] [--size-mb 1024] [--zip]
        [--postgres-url postgresql://…/postgres]

Writes a synthetic Android export of about --size-mb MiB to a temporary file, streamed (the
generator keeps no more than one message): four authors, mostly one-line messages of 5 to
200 characters, some of several lines, attachments, every hundredth message 2,000 to 60,000
characters, and every 5,000th close to the 1 MiB limit (1,000,000 characters), so the peak
is set by the largest message and a chunk of them, never by the file. With --zip, the text is
the `_chat.txt` of a zip, as WhatsApp shares it. Then, on a fresh database, it times
`chatport import export FILE` in a child process and takes that child's peak RSS from the
kernel (`wait4`'s `ru_maxrss`: exact, not sampled), and checks every message was stored.
Ends with one `key=value` line: backend text_mb zip messages largest_message_chars import_s
msgs_per_s peak_rss_mb. Target (docs/benchmarks.md): peak_rss_mb ≤ 300 for a 1 GiB text.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from write_batch import fresh_database, stored  # noqa: E402

AUTHORS = ["Ana Souza", "+55 11 98765-4321", "Bo", "Chloé Martin"]
WORDS = ["ok", "yes", "maybe", "lunch", "🤓", "👍🏽", "olá", "ça va?", "merci", "danke", "the"]
LARGEST = 1_000_000


def _text(rng: random.Random, chars: int) -> str:
    words, size = [], 0
    while size < chars:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def _lines(rng: random.Random, chars: int) -> str:
    """`chars` characters of text in lines of up to 100."""
    text = _text(rng, chars)
    return "\n".join(text[i : i + 100] for i in range(0, len(text), 100))


def export_messages(target_bytes: int, seed: int = 7) -> Iterator[tuple[str, int]]:
    """The export's messages (each with its lines and final line end), until about
    `target_bytes` of UTF-8; with the number of characters of each."""
    rng = random.Random(seed)
    moment = datetime(2019, 1, 1, 8, 0)
    written, number = 0, 0
    while written < target_bytes:
        number += 1
        moment += timedelta(seconds=rng.randint(1, 300))
        author = AUTHORS[number % len(AUTHORS)]
        if number % 5_000 == 0:
            body = _lines(rng, LARGEST - 200)
        elif number % 100 == 0:
            body = _lines(rng, rng.randint(2_000, 60_000))
        elif number % 25 == 0:
            body = f"IMG-{moment:%Y%m%d}-WA{number % 10_000:04d}.jpg (file attached)"
        elif number % 10 == 0:
            body = "\n".join(_text(rng, rng.randint(20, 100)) for _ in range(rng.randint(2, 8)))
        else:
            body = _text(rng, rng.randint(5, 200))
        message = f"{moment:%d/%m/%Y, %H:%M} - {author}: {body}\n"
        written += len(message.encode())
        yield message, len(message)


def write_export(path: Path, size_mb: int, zipped: bool) -> tuple[int, int, int]:
    """Write the export (streamed); its message count, largest message in characters and
    size in bytes (of the text)."""
    count, largest, size = 0, 0, 0
    with ExitStack() as files:
        if zipped:
            archive = files.enter_context(
                zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
            )
            stream = files.enter_context(archive.open("_chat.txt", "w", force_zip64=True))
        else:
            stream = files.enter_context(path.open("wb"))
        for message, chars in export_messages(size_mb << 20):
            encoded = message.encode()
            stream.write(encoded)
            count, largest, size = count + 1, max(largest, chars), size + len(encoded)
    return count, largest, size


def timed_import(path: Path, database_url: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB, the kernel's high-water mark) of one import."""
    command = ["chatport", "import", "export", str(path), "--db", database_url, "--day-first"]
    command += ["--tz", "UTC"]
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"import failed:\n{log.read().decode(errors='replace')}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--size-mb", type=int, default=1024, help="the chat text's size (MiB)")
    parser.add_argument("--zip", action="store_true", help="the text inside a zip")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CHATPORT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("WhatsApp Chat with Bench" + (".zip" if args.zip else ".txt"))
        count, largest, size = write_export(path, args.size_mb, args.zip)
        print(f"wrote {path.name}: {path.stat().st_size / 2**20:,.0f} MiB, {count:,} messages")
        with fresh_database(args.backend, args.postgres_url) as database_url:
            elapsed, peak = timed_import(path, database_url)
            kept = stored(database_url)
    if kept != count:
        raise SystemExit(f"not exact: stored {kept:,} messages of {count:,}")
    figures = {
        "backend": args.backend,
        "text_mb": f"{size / 2**20:.0f}",
        "zip": int(args.zip),
        "messages": count,
        "largest_message_chars": largest,
        "import_s": f"{elapsed:.1f}",
        "msgs_per_s": f"{count / elapsed:.0f}",
        "peak_rss_mb": f"{peak:.0f}",
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
