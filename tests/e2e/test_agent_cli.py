"""`chatport agent jobs`: the jobs of closed bursts, filtered by status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chatport.agent.debouncer import Debouncer
from chatport.bootstrap import build_database
from chatport.settings import Settings
from tests.e2e.test_cli import run
from tests.integration.test_bursts import RULES, at, live


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_jobs_are_listed_and_filtered_by_status(database_url: str) -> None:
    database = build_database(Settings(database_url=database_url))
    channel = replace(database.channel(), has_agent=True)
    for n in range(3):
        live(database, channel, n, f"bubble{n}", chat=f"551199999000{n}@c.us")
    assert len(Debouncer(database, RULES).run_once(at(30))) == 3
    database.dispose()
    listed = run("agent", "jobs", "--db", database_url)
    assert listed.returncode == 0, listed.stderr
    assert "3 job(s)" in listed.stdout and listed.stdout.count("pending") == 3
    assert "0 job(s)" in run("agent", "jobs", "--status", "failed", "--db", database_url).stdout
    wrong = run("agent", "jobs", "--status", "nope", "--db", database_url)
    assert wrong.returncode != 0 and "status must be one of" in wrong.stderr
