"""`chatport import waha|export|baileys` as a user runs them: time windows, a WAHA that goes
down, export and Baileys files, and files chatport cannot read (one line, exit 2)."""

from __future__ import annotations

import re
import socket
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from chatport.bootstrap import build_database
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread, simulator_process
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.tables import import_jobs, messages
from tests.e2e.test_cli import CHATPORT, run
from tests.integration.test_baileys_import import history
from tests.unit.test_export_parser import CHATISTICS, PUSTUR

WORLD = World(chats=30, messages=2_000, seed=5)
STAMPS = sorted(r.timestamp for c in WORLD.chats for r in WORLD.messages(c) if not r.hidden)


def stored(database_url: str) -> tuple[list[int], str]:
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            sent = connection.execute(select(messages.c.sent_at)).scalars().all()
            status = connection.execute(
                select(import_jobs.c.status).order_by(import_jobs.c.created_at.desc())
            ).scalar()
    finally:
        database.dispose()
    return sorted(int(moment.timestamp()) for moment in sent), status


def iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat()


def test_since_and_until_import_exactly_that_window(database_url: str) -> None:
    since, until = STAMPS[len(STAMPS) // 3], STAMPS[2 * len(STAMPS) // 3]
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        result = run(
            "import", "waha", "--url", url, "--db", database_url,
            "--since", iso(since), "--until", iso(until), "--page-size", "50",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert stored(database_url) == ([s for s in STAMPS if since <= s <= until], "completed")


def test_days_counts_back_from_now(database_url: str) -> None:
    now = time.time()
    # whole days back to a quiet moment of the history (no message within an hour of the cut)
    days = next(
        d
        for d in range(int((now - STAMPS[len(STAMPS) // 2]) // 86_400), 100_000)
        if all(abs(s - (now - d * 86_400)) > 3_600 for s in STAMPS)
    )
    expected = [s for s in STAMPS if s >= now - days * 86_400]
    assert 0 < len(expected) < len(STAMPS)
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        result = run("import", "waha", "--url", url, "--db", database_url, "--days", str(days))
    assert result.returncode == 0, result.stdout + result.stderr
    assert stored(database_url) == (expected, "completed")


def test_days_and_since_together_are_refused(database_url: str) -> None:
    result = run(
        "import", "waha", "--url", "http://127.0.0.1:9", "--db", database_url,
        "--days", "3", "--since", "2026-01-01",
    )  # fmt: skip
    assert result.returncode == 2 and "not both" in result.stderr


def simulator(port: int, *flags: str):
    options = ["--chats", "30", "--messages", "2000", "--seed", "5", *flags]
    return simulator_process(port, *options, command=CHATPORT)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_waha_down_interrupts_the_import_and_resume_finishes_it(database_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    patience = {
        "CHATPORT_WAHA_CIRCUIT_OPEN_SECONDS": "0.2",
        "CHATPORT_WAHA_GIVE_UP_MINUTES": "0.02",
    }
    with simulator(port, "--down-after", "20") as url:
        started = time.monotonic()
        first = run(
            "import", "waha", "--url", url, "--db", database_url, "--page-size", "20",
            "--concurrency", "2", env=patience,
        )  # fmt: skip
        assert time.monotonic() - started < 60
    assert first.returncode == 1
    assert "is down" in first.stdout and "HTTP 503" in first.stdout, first.stdout
    partial, status = stored(database_url)
    assert status == "interrupted" and len(partial) < len(STAMPS)
    job_id = first.stdout.split()[2]
    with simulator(port):
        resumed = run(
            "import", "resume", job_id, "--db", database_url, "--json",
            "--log-format", "json", "--log-level", "info", env=patience,
        )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert stored(database_url) == (STAMPS, "completed")
    summary = orjson.loads(resumed.stdout)  # --json: the summary alone on stdout
    assert (summary["id"], summary["status"]) == (job_id, "completed")
    assert summary["chats_done"] == len(WORLD.chats) and summary["elapsed_seconds"] > 0
    logged = [orjson.loads(line) for line in resumed.stderr.splitlines() if line.startswith("{")]
    ended = [line for line in logged if line.get("event") == "job_finished"]
    assert [(line["job_id"], line["status"], line["level"]) for line in ended] == [
        (job_id, "completed", "INFO")
    ]
    listed = run("import", "status", "--db", database_url, "--json")
    assert [job["status"] for job in orjson.loads(listed.stdout)] == ["completed"]


def test_a_waha_never_reached_is_one_line_and_exit_2_without_a_job(sqlite_url: str) -> None:
    """Not after the circuit's patience (10 minutes by default): within the minute."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = run("import", "waha", "--url", url, "--db", sqlite_url, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot reach WAHA at {url}: connection refused (is WAHA running there?)"
    ]
    assert stored(sqlite_url) == ([], None)


def test_import_export_reports_attachments_and_refuses_unreadable_files(tmp_path) -> None:
    database = f"sqlite:///{tmp_path / 'export.db'}"
    zipped = str(PUSTUR / "example-2024-trimmed.zip")
    done = run("import", "export", zipped, "--db", database, "--tz", "Europe/Zurich")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "attachments missing" in done.stdout and "00000002-VIDEO" in done.stdout
    ambiguous = run("import", "export", str(CHATISTICS / "_chat 3.txt"), "--db", database)
    assert ambiguous.returncode == 2 and "--month-first" in ambiguous.stderr
    chosen = str(CHATISTICS / "_chat 3.txt")
    done = run("import", "export", chosen, "--db", database, "--month-first")
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_baileys_file(tmp_path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(orjson.dumps(history(25)) + b"\n" + orjson.dumps(history(5, start=25)))
    database = f"sqlite:///{tmp_path / 'baileys.db'}"
    done = run("import", "baileys", str(path), "--db", database)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "payloads" in done.stdout and "30" in done.stdout
    path.write_text("{broken")
    refused = run("import", "baileys", str(path), "--db", database)
    assert refused.returncode == 2 and "line 1: not JSON" in refused.stderr


def test_one_chat_by_phone_imports_its_lid_chat_and_an_unknown_chat_is_refused(
    database_url: str,
) -> None:
    """WAHA holds 9000000010@lid's messages under the LID; the user gives the phone."""
    lid_chat = WORLD.by_id["9000000010@lid"]
    expected = sorted(r.timestamp for r in WORLD.messages(lid_chat) if not r.hidden)
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        by_phone = run(
            "import", "waha", "--url", url, "--db", database_url, "--chat", "5511900000010"
        )  # fmt: skip
        unknown = run(
            "import", "waha", "--url", url, "--db", database_url, "--chat", "5511000000099"
        )  # fmt: skip
    assert by_phone.returncode == 0, by_phone.stdout + by_phone.stderr
    assert stored(database_url) == (expected, "completed")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0 and "holds no message" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def refused(result, reason: str) -> None:
    """A one-line error naming `reason`, exit status 2, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert reason in result.stderr and "Traceback" not in result.stderr


def test_a_corrupt_zip_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Ana.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=0) as archive:
        archive.writestr("WhatsApp Chat with Ana.txt", "12/24/23, 18:01 - Ana: hello\n" * 50)
        archive.writestr("IMG-20231224-WA0001.jpg", b"\xff\xd8" * 100)
    data = bytearray(path.read_bytes())
    data[data.rindex(b"hello")] ^= 0x20  # in the deflated data: it inflates, its CRC fails
    path.write_bytes(bytes(data))
    result = run("import", "export", str(path), "--db", f"sqlite:///{tmp_path / 'a.db'}")
    refused(result, "WhatsApp Chat with Ana.txt: corrupt zip: Bad CRC-32")


def test_a_binary_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"  # a database renamed: valid UTF-8, but NULs
    path.write_bytes(b"SQLite format 3\0" + bytes(4_096) + b"\n" * 3)
    result = run("import", "export", str(path), "--db", f"sqlite:///{tmp_path / 'a.db'}")
    refused(result, "chat.txt: line 1: a NUL byte: a binary file")


def test_a_message_over_1_mib_is_a_one_line_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    with path.open("w", encoding="utf-8") as text:
        text.write("12/24/23, 18:01 - Ana: hi\n12/24/23, 18:02 - Ana: ok\n")
        text.write("12/24/23, 18:03 - Bo: a long one\n" + ("é" * 999 + "\n") * 1_100)
        text.write("12/24/23, 18:04 - Ana: done\n")
    database = f"sqlite:///{tmp_path / 'a.db'}"
    result = run("import", "export", str(path), "--db", database, "--month-first")
    refused(result, "line 3: a message of more than 1,048,576 characters")


def test_a_baileys_file_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(orjson.dumps(history(2)) + b"\n" + orjson.dumps(history(1)) + b"\xff\n")
    result = run("import", "baileys", str(path), "--db", f"sqlite:///{tmp_path / 'a.db'}")
    refused(result, "line 2: not UTF-8 text")


def test_export_authors_by_number_need_a_region_and_dirt_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Ana.txt"
    path.write_text(
        "[24.12.23, 21:30:00] (011) 98765-4321: olá\n"
        "[24.12.23, 21:31:00] Me: oi\n"
        "[\ufeff24.12.23, 21:32:00] (011) 98765-4321: a BOM in the header\n"
        "[24.12.23, 25:00:00] Me: no hour 25: text of the message before\n"
        "[31.12.23, 21:33:00] Me: tchau\n",
        encoding="utf-8",
    )
    database = f"sqlite:///{tmp_path / 'a.db'}"
    args = ("import", "export", str(path), "--db", database, "--me", "Me")
    refused(run(*args), "line 1: the author '(011) 98765-4321' is a phone number without")
    done = run(*args, "--region", "br", "--tz", "America/Sao_Paulo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5511987654321@c.us" in done.stdout and "America/Sao_Paulo" in done.stdout
    assert re.search(r"messages in the file\W+4\W", done.stdout), done.stdout
    assert "1 line looked like a header and was kept as text" in done.stdout
    by_setting = run(*args, env={"CHATPORT_DEFAULT_REGION": "BR", "TZ": "Asia/Tokyo"})
    assert by_setting.returncode == 0, by_setting.stdout + by_setting.stderr
    assert "Asia/Tokyo (no --tz given)" in by_setting.stdout
    bad_region = run(*args, "--region", "Brazil")
    assert bad_region.returncode == 2 and "not a region code: 'Brazil'" in bad_region.stderr


def test_a_second_channel_for_one_waha_session_is_one_line_and_exit_2(database_url: str) -> None:
    """`sales` takes this WAHA server's session `default` (as `chatport import waha --channel
    sales` left it): importing it into another channel is refused before WAHA is called."""
    from chatport.bootstrap import build
    from chatport.cli.imports import create_waha_job

    url = "http://127.0.0.1:9"  # never called
    services = build(Settings(database_url=database_url))
    try:
        now = datetime.now(UTC)
        create_waha_job(services, url, "default", None, "sales", None, now, {})
    finally:
        services.close()
    result = run(
        "import", "waha", "--url", f"{url}/", "--channel", "support", "--create-channel",
        "--db", database_url,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: channel 'sales' already takes WAHA session 'default' at {url}/: its webhooks"
        " could not tell the two apart (use that channel, or another session)"
    ]
