"""The installed `chatport` command, run as a user runs it, on both back ends."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import PATIENCE, eventually

CHATPORT = shutil.which("chatport", path=str(Path(sys.executable).parent)) or "chatport"


def run(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHATPORT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )


def test_db_upgrade_demo_and_current(blank_url: str) -> None:
    upgraded = run("db", "upgrade", "--db", blank_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from nothing to" in upgraded.stdout
    demo = run("demo", "--db", blank_url, "--chats", "30", "--messages", "3000")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "whole history: match" in demo.stdout
    assert demo.stdout.count("— completed") == 2
    current = run("db", "current", "--db", blank_url)
    assert current.returncode == 0
    assert "import_jobs" in current.stdout and "messages" in current.stdout


def test_the_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    result = run(
        "demo", "--chats", "5", "--messages", "200", cwd=tmp_path, env={"CHATPORT_DATABASE_URL": ""}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "chatport.db").exists()


def test_the_database_url_comes_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = run("db", "upgrade", env={"CHATPORT_DATABASE_URL": url})
    assert result.returncode == 0 and (tmp_path / "env.db").exists()


def test_a_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    result = run("db", "upgrade", "--db", "mysql://nobody@nowhere/db", cwd=tmp_path)
    assert result.returncode == 2
    assert "unsupported database URL" in result.stderr


@pytest.mark.postgres
def test_an_unmigrated_postgres_database_names_the_command_to_run(
    blank_postgresql_url: str,
) -> None:
    result = run("demo", "--db", blank_postgresql_url, "--messages", "10", "--chats", "1")
    assert result.returncode == 2
    assert "chatport db upgrade" in result.stderr


def test_simulate_waha_serves_over_http() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["simulate", "waha", "--chats", "5", "--messages", "100", "--port", str(port)]
    server = subprocess.Popen([CHATPORT, *command, "--api-key", "k"], stdout=subprocess.DEVNULL)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/default/chats/overview", headers={"X-Api-Key": "k"}
        )

        def overview() -> list | None:
            assert server.poll() is None, "the simulator ended"
            try:
                with urllib.request.urlopen(request, timeout=PATIENCE) as response:
                    return json.loads(response.read())
            except OSError:
                return None

        assert len(eventually(overview, "the simulator answered", every=0.1)) == 5
    finally:
        server.terminate()
        server.wait(10)
