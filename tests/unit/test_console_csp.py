"""The console's pages meet the content security policy (`api/edge.py`) without a browser:
no inline script, style or event handler in any template, and the policy allows no inline
code either (the browser test checks that Chromium blocks nothing, where Chromium exists)."""

from __future__ import annotations

import re

import pytest

from chatport.api.console.render import HERE
from chatport.api.edge import CONTENT_SECURITY_POLICY

TEMPLATES = sorted((HERE / "templates").glob("*.html"))
INLINE = {
    "an inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "a style block": re.compile(r"<style\b", re.IGNORECASE),
    "a style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_templates_have_no_inline_code(template) -> None:
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert found == [], f"{template.name} has {', '.join(found)}: the CSP would block it"


def test_the_policy_allows_only_this_site_and_no_frames() -> None:
    rules = dict(rule.strip().split(" ", 1) for rule in CONTENT_SECURITY_POLICY.split(";"))
    assert rules["default-src"] == "'self'" and rules["frame-ancestors"] == "'none'"
    assert rules["script-src"] == "'self'" and rules["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert len(TEMPLATES) >= 10
