"""Database fixtures: every test gets a fresh, migrated database of its own.

SQLite: a copy of a migrated template file. PostgreSQL: `CREATE DATABASE … TEMPLATE …` on the
server named by CHATPORT_TEST_POSTGRES_URL (default: postgresql://postgres@127.0.0.1:5432/
postgres); the tests create and drop their own databases there. Without a reachable server the
PostgreSQL tests skip with the reason, except under CI=true or CHATPORT_REQUIRE_POSTGRES=1,
where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chatport.bootstrap import build_database
from chatport.settings import Settings
from chatport.store.database import Database
from chatport.store.migrate import upgrade

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]


def _postgres_required() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("CHATPORT_REQUIRE_POSTGRES") == "1"
    )


def _url_with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def _scratch_database(admin_url: str, prefix: str, template: str = "") -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template` if given), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f" TEMPLATE {template}" if template else ""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}{copy}")
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _migrate(url: str) -> None:
    database = build_database(Settings(database_url=url), check_schema=False)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("CHATPORT_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # any failure to reach the server means "no PostgreSQL here"
        reason = f"PostgreSQL not reachable at {url}: {error}"
        if _postgres_required():
            pytest.fail(reason + " (required in CI)")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    with _scratch_database(postgres_admin_url, "chatport_tpl") as name:
        _migrate(_url_with_database(postgres_admin_url, name))
        yield name


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "chatport.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgresql_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    with _scratch_database(postgres_admin_url, "chatport_t", postgres_template) as name:
        yield _url_with_database(postgres_admin_url, name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database on each back end (the same test runs on both)."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    built = build_database(Settings(database_url=database_url))
    yield built
    built.dispose()


@pytest.fixture
def blank_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'blank.db'}"


@pytest.fixture
def blank_postgresql_url(postgres_admin_url: str) -> Iterator[str]:
    with _scratch_database(postgres_admin_url, "chatport_blank") as name:
        yield _url_with_database(postgres_admin_url, name)


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest) -> str:
    """An empty, never migrated database on each back end (for migration tests)."""
    return request.getfixturevalue(f"blank_{request.param}_url")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL half of parametrised tests, so `-m "not postgres"` skips it."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in list(callspec.params.values()):
            item.add_marker(pytest.mark.postgres)
