"""Chromium for the browser tests: Debian's `/usr/bin/chromium` (or CHATPORT_TEST_CHROMIUM)
driven by Playwright for Python; nothing is downloaded. Without either the tests skip with
the reason, except under CI=true or CHATPORT_REQUIRE_BROWSER=1, where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# As root on a closed network: no sandbox, and none of Chromium's background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _required() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("CHATPORT_REQUIRE_BROWSER") == "1"
    )


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(reason + " (required in CI)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    configured = os.environ.get("CHATPORT_TEST_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )


def artifacts_dir(name: str) -> Path:
    """Where a test saves its screenshots (CHATPORT_TEST_ARTIFACTS, default test-artifacts/)."""
    folder = Path(os.environ.get("CHATPORT_TEST_ARTIFACTS", "test-artifacts")) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A headless Chromium (a Playwright `Browser`)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as missing:
        _unavailable(f"Playwright for Python is not installed: {missing}")
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium: install Debian's chromium, or set CHATPORT_TEST_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
