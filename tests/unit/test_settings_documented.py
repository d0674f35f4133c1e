"""Every setting has a description and a row in docs/configuration.md."""

from __future__ import annotations

from pathlib import Path

from chatport.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_setting_is_described_and_documented() -> None:
    text = DOC.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"`CHATPORT_{name.upper()}`" in text, f"CHATPORT_{name.upper()} not documented"
