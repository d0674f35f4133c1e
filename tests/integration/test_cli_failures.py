"""Mistakes a user makes on the command line are one line on stderr and exit status 2, with no
traceback unless `--debug`: a bad database URL, a database that cannot be opened or is not
migrated, a bad setting (its variable named), and for imports a WAHA that never answered (no
job left behind), a mistyped channel or tenant."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from chatport.bootstrap import build_database
from chatport.cli import app
from chatport.errors import ConfigurationError
from chatport.settings import Settings
from chatport.simulator.runner import simulator_in_thread
from chatport.simulator.server import SimulatorConfig
from chatport.simulator.world import World
from chatport.store.tables import channels, import_jobs, messages, tenants
from chatport.store.tenants import ensure_tenant
from tests.integration.test_baileys_import import history

WORLD = World(chats=3, messages=40, seed=7)


@pytest.fixture(autouse=True)
def _heap_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The import commands tune the heap of their process for bulk work (`for_bulk_work`:
    frozen, fewer collections); here that process is the test's."""
    for module in ("imports", "import_files"):
        monkeypatch.setattr(f"chatport.cli.{module}.for_bulk_work", lambda: None)


def chatport(*args: str, **env: str) -> tuple[int, str, str]:
    """`chatport ARGS` in this process: exit status, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})
    return result.exit_code, result.stdout, result.stderr


def one_error(stderr: str) -> str:
    """The message of a one-line error (no traceback, nothing else)."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0].removeprefix("error: ")


@contextmanager
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def rows(database_url: str) -> dict[str, object]:
    """What an import could leave: jobs, messages, channels (and their WAHA URLs)."""
    database = build_database(Settings(database_url=database_url))
    try:
        with database.engine.connect() as connection:
            count = select(func.count())
            query = select(tenants.c.name, channels.c.name, channels.c.waha_url).select_from(
                channels.join(tenants)
            )
            return {
                "jobs": connection.execute(count.select_from(import_jobs)).scalar(),
                "messages": connection.execute(count.select_from(messages)).scalar(),
                "channels": sorted(tuple(row) for row in connection.execute(query)),
            }
    finally:
        database.dispose()


UNTOUCHED = {"jobs": 0, "messages": 0, "channels": [("default", "default", None)]}


# -- the database and the settings ---------------------------------------------------------


def test_a_database_url_that_is_not_one() -> None:
    code, _, stderr = chatport("import", "status", "--db", "notaurl")
    assert code == 2
    assert one_error(stderr) == (
        "unsupported database URL 'notaurl' (--db or CHATPORT_DATABASE_URL): use "
        "sqlite:///FILE or postgresql://USER@HOST/DB"
    )


def test_an_unreachable_postgresql_names_it_without_its_password() -> None:
    with closed_port() as port:
        url = f"postgresql://chatport:secret@127.0.0.1:{port}/crm"
        code, _, stderr = chatport("db", "current", "--db", url)
    assert code == 2
    message = one_error(stderr)
    assert message.startswith(
        f"cannot open the database postgresql://chatport:***@127.0.0.1:{port}"
    )
    assert "Connection refused" in message and "secret" not in message


def test_an_unmigrated_database_names_the_command_to_run(blank_sqlite_url: str) -> None:
    code, _, stderr = chatport(
        "import", "status", "--db", blank_sqlite_url, CHATPORT_AUTO_MIGRATE_SQLITE="false"
    )
    assert code == 2 and "run `chatport db upgrade`" in one_error(stderr)


def test_a_bad_setting_names_its_variable(sqlite_url: str) -> None:
    code, _, stderr = chatport(
        "import", "status", "--db", sqlite_url, CHATPORT_WAHA_TIMEOUT_SECONDS="soon"
    )
    assert code == 2
    assert one_error(stderr) == "CHATPORT_WAHA_TIMEOUT_SECONDS: must be a number"
    code, _, stderr = chatport(
        "import", "status", "--db", sqlite_url, CHATPORT_WAHA_RETRY_ATTEMPTS="0",
        CHATPORT_AGENT_GROUPS="maybe",
    )  # fmt: skip
    assert code == 2
    assert one_error(stderr) == (
        "CHATPORT_WAHA_RETRY_ATTEMPTS: must be at least 1; "
        "CHATPORT_AGENT_GROUPS: must be true or false"
    )


def test_debug_shows_the_error_itself() -> None:
    result = CliRunner().invoke(app, ["--debug", "import", "status", "--db", "notaurl"])
    assert result.exit_code == 1 and isinstance(result.exception, ConfigurationError)
    by_env = CliRunner().invoke(app, ["db", "current", "--db", "x"], env={"CHATPORT_DEBUG": "1"})
    assert isinstance(by_env.exception, ConfigurationError)


# -- import waha: the first contact ---------------------------------------------------------


def test_a_url_without_a_scheme_is_refused_before_any_request(sqlite_url: str) -> None:
    config = SimulatorConfig(WORLD)
    with simulator_in_thread(config) as url:
        bare = url.removeprefix("http://")
        code, _, stderr = chatport("import", "waha", "--url", bare, "--db", sqlite_url)
    assert code == 2
    assert one_error(stderr) == (
        f"--url needs http:// or https:// and a host, e.g. http://localhost:3000 (got {bare!r})"
    )
    assert config.faults.requests == 0 and rows(sqlite_url) == UNTOUCHED


def test_a_waha_that_never_answered_fails_at_once_and_leaves_nothing(sqlite_url: str) -> None:
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        # the circuit's patience (an hour here) is for a WAHA that answered once
        code, _, stderr = chatport(
            "import", "waha", "--url", url, "--db", sqlite_url, CHATPORT_WAHA_GIVE_UP_MINUTES="60"
        )
    assert code == 2
    assert one_error(stderr) == (
        f"cannot reach WAHA at {url}: connection refused (is WAHA running there?)"
    )
    assert rows(sqlite_url) == UNTOUCHED


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--api-key", "wrong"], "refused the API key (HTTP 401): check --api-key"),
        (
            ["--api-key", "right", "--session", "sales"],
            "has no session 'sales' (HTTP 422): check --session",
        ),
    ],
    ids=["wrong-key", "unknown-session"],
)
def test_waha_refusing_is_one_line_exit_2_and_no_job(
    sqlite_url: str, options: list[str], expected: str
) -> None:
    with simulator_in_thread(SimulatorConfig(WORLD, api_key="right")) as url:
        code, _, stderr = chatport("import", "waha", "--url", url, "--db", sqlite_url, *options)
    assert code == 2 and expected in one_error(stderr)
    assert rows(sqlite_url) == UNTOUCHED


def test_an_unknown_channel_or_tenant_is_refused_before_waha_is_asked(sqlite_url: str) -> None:
    config = SimulatorConfig(WORLD)
    with simulator_in_thread(config) as url:
        waha = ["import", "waha", "--url", url, "--db", sqlite_url]
        code, _, stderr = chatport(*waha, "--channel", "slaes")
        assert code == 2
        assert one_error(stderr) == (
            "no channel 'slaes' in tenant 'default': check --channel, or add --create-channel "
            "to create it"
        )
        code, _, stderr = chatport(*waha, "--tenant", "acme", "--create-channel")
        assert code == 2
        assert one_error(stderr) == (
            "no tenant 'acme': check --tenant (`chatport keys create --tenant acme` creates one)"
        )
    assert config.faults.requests == 0 and rows(sqlite_url) == UNTOUCHED


def test_create_channel_and_tenant_target_the_import(sqlite_url: str) -> None:
    database = build_database(Settings(database_url=sqlite_url))
    with database.unit_of_work() as uow:
        ensure_tenant(uow.connection, "acme")
        uow.commit()
    database.dispose()
    with simulator_in_thread(SimulatorConfig(WORLD)) as url:
        waha = ["import", "waha", "--url", url, "--db", sqlite_url, "--fetchers", "1"]
        code, stdout, stderr = chatport(*waha, "--tenant", "acme", "--channel", "sales",
                                        "--create-channel")  # fmt: skip
        assert code == 0, stdout + stderr
        again, stdout, stderr = chatport(*waha, "--tenant", "acme", "--channel", "sales")
        assert again == 0, stdout + stderr  # it exists now
    found = rows(sqlite_url)
    assert found["jobs"] == 2 and found["messages"] > 0
    assert found["channels"] == [("acme", "sales", url), ("default", "default", None)]


# -- import export and baileys: the channel ---------------------------------------------------


def test_file_imports_refuse_an_unknown_channel_and_create_it_when_asked(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(orjson.dumps(history(5)))
    baileys = ["import", "baileys", str(path), "--db", sqlite_url, "--channel", "shop"]
    code, _, stderr = chatport(*baileys)
    assert code == 2 and "add --create-channel" in one_error(stderr)
    export = tmp_path / "chat.txt"
    export.write_text("[01/02/2024, 10:00:00] Ana: hello\n")
    code, _, stderr = chatport("import", "export", str(export), "--db", sqlite_url,
                               "--channel", "shop", "--tz", "UTC")  # fmt: skip
    assert code == 2 and "add --create-channel" in one_error(stderr)
    assert rows(sqlite_url) == UNTOUCHED
    code, stdout, stderr = chatport(*baileys, "--create-channel")
    assert code == 0, stdout + stderr
    found = rows(sqlite_url)
    assert found["messages"] == 5
    assert found["channels"] == [("default", "default", None), ("default", "shop", None)]
