"""The configuration reference names every setting there is."""

from __future__ import annotations

from pathlib import Path

from openkling.config import ModelRoute, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"OPENKLING_{name.upper()}" not in text]
    assert missing == []


def test_every_model_route_field_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in ModelRoute.model_fields if f"`{name}`" not in text]
    assert missing == []
