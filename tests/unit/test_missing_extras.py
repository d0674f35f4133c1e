"""A command that needs an extra that is not installed says so on one line and exits 2, with
no traceback. The missing module is simulated: `sys.modules[name] = None` makes importing it
raise ModuleNotFoundError, as when it is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatport import cli
from chatport.cli.options import print_error

# run `chatport ARGS…` with the modules named in argv[1] (comma-separated) missing
PROBE = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = ["chatport", *sys.argv[2:]]
from chatport.cli import main
main()
"""
POSTGRES = "postgresql://nobody@127.0.0.1:1/nothing"
POSTGRES_MISSING = "error: PostgreSQL support is not installed: pip install 'chatport[postgres]'"
TEMPORAL_MISSING = "error: Temporal support is not installed: pip install 'chatport[temporal]'"


def chatport_without(missing: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE, missing, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,  # no .env of the checkout
        env={**os.environ, "COLUMNS": "40"},  # a narrow terminal wraps nothing
    )


@pytest.mark.parametrize(
    ("missing", "args", "message"),
    [
        ("psycopg", ["serve", "--db", POSTGRES], POSTGRES_MISSING),
        (
            "psycopg",
            ["import", "waha", "--url", "http://127.0.0.1:9", "--db", POSTGRES],
            POSTGRES_MISSING,
        ),
        ("psycopg", ["db", "upgrade", "--db", POSTGRES], POSTGRES_MISSING),
        ("temporalio", ["worker", "--db", "sqlite:///w.db"], TEMPORAL_MISSING),
        (
            "temporalio",
            ["import", "waha", "--url", "http://127.0.0.1:9", "--engine", "temporal"],
            TEMPORAL_MISSING,
        ),
    ],
    ids=["serve", "import-waha", "db-upgrade", "worker", "import-on-temporal"],
)
def test_a_missing_extra_is_one_line_and_exit_2(
    missing: str, args: list[str], message: str, tmp_path: Path
) -> None:
    result = chatport_without(missing, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [message]


def test_temporal_dev_without_the_temporal_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(sys, "argv", ["chatport", "temporal", "dev"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: Temporal's dev server (a `temporal` beside this Python) is not installed: "
        "pip install 'chatport[temporal]'"
    ]


def test_an_error_message_is_printed_as_typed_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_error("x" * 300 + " [postgres] [bold]kept[/bold]")
    assert capsys.readouterr().err == "error: " + "x" * 300 + " [postgres] [bold]kept[/bold]\n"
