"""The zone an export's times are read in: `--tz`, else this machine's as tzlocal reads it
(TZ, the system's configuration on Linux, macOS and Windows, a copied /etc/localtime), never a
silent UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
import tzlocal

from chatport.errors import ConfigurationError
from chatport.ingest import export
from chatport.ingest.export import local_zone

TOKYO = "/usr/share/zoneinfo/Asia/Tokyo"


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """Make this machine's zone what the test says (TZ unset)."""
    monkeypatch.delenv("TZ", raising=False)

    def configure(name: str | None, zone: ZoneInfo) -> None:
        monkeypatch.setattr(tzlocal, "get_localzone_name", lambda: name)
        monkeypatch.setattr(tzlocal, "reload_localzone", lambda: zone)

    return configure


def test_the_machine_zone_is_tzlocals(machine) -> None:
    machine("Asia/Tokyo", ZoneInfo("Asia/Tokyo"))
    assert local_zone() == ZoneInfo("Asia/Tokyo")


def test_a_copied_localtime_file_is_read(machine) -> None:
    """Containers often copy the zone file to /etc/localtime instead of linking it."""
    with open(TOKYO, "rb") as data:
        copied = ZoneInfo.from_file(data, key="local")
    machine(None, copied)
    assert local_zone() is copied


def test_tz_wins(machine) -> None:
    machine("Asia/Tokyo", ZoneInfo("Asia/Tokyo"))
    assert local_zone("America/Sao_Paulo") == ZoneInfo("America/Sao_Paulo")
    with pytest.raises(ConfigurationError, match="unknown time zone 'Mars/Olympus'"):
        local_zone("Mars/Olympus")


def test_a_machine_without_a_zone_asks_for_tz(machine, monkeypatch, tmp_path) -> None:
    machine(None, ZoneInfo("UTC"))  # what tzlocal falls back to, with a warning
    monkeypatch.setattr(export, "LOCALTIME_FILES", (str(tmp_path / "localtime"),))
    with pytest.raises(ConfigurationError, match="names no time zone.*--tz"):
        local_zone()


def test_the_tz_variable_is_read_each_time(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert local_zone() == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    assert local_zone() == ZoneInfo("America/Sao_Paulo")
    monkeypatch.setenv("TZ", "Mars/Olympus")
    with pytest.raises(ConfigurationError, match="Mars/Olympus.*--tz"):
        local_zone()
