"""The published request schema states what the server enforces: a body the schema accepts
the server accepts, and one it refuses the server refuses (camera, duration, prompt).

Durations 3..15 other than 5 and 10 depend on the model (newer ones take them): the schema
publishes the two every model accepts, and the create route decides the rest."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from openkling.core.callbacks import check_callback_url
from openkling.core.errors import KlingError
from openkling.core.models import Text2VideoRequest

SCHEMA = Text2VideoRequest.model_json_schema()

CASES: list[dict[str, Any]] = [
    {"prompt": "a cat"},
    {"prompt": ""},
    {"prompt": "   "},
    {"prompt": " x "},
    {"prompt": "x", "duration": "5"},
    {"prompt": "x", "duration": 10},
    {"prompt": "x", "duration": " 5"},
    {"prompt": "x", "cfg_scale": "0.5"},
    {"prompt": "x", "cfg_scale": 1.5},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {"pan": 2}}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {"pan": 2, "zoom": 0}}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {"pan": 2, "zoom": 1}}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {}}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {"pan": 0}}},
    {"prompt": "x", "camera_control": {"type": "simple"}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": None}},
    {"prompt": "x", "camera_control": {"type": "down_back"}},
    {"prompt": "x", "camera_control": {"type": "down_back", "config": None}},
    {"prompt": "x", "camera_control": {"type": "down_back", "config": {"pan": 1}}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {"spin": 1}}},
    {"prompt": "x", "camera_control": {"type": "simple", "config": {"pan": 11}}},
]


@pytest.mark.parametrize("url,valid", [
    ("http://example.com", True), ("https://a.b:8443/x?y=1#z", True),
    ("http://user@host/p", True), ("", True), ("ftp://example.com/", False),
    ("example.com/hook", False),
    ("http://", False), ("http:///path", False),
])
async def test_callback_url_pattern_matches_the_create_check(url: str, valid: bool) -> None:
    # With private callbacks allowed the create check is syntax only; otherwise it also
    # resolves the host, which no schema can state.
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(
        {"prompt": "x", "callback_url": url}) is valid
    try:
        if url:  # empty means no callback, before any check
            await check_callback_url(url, allow_private=True)
    except KlingError:
        accepted = False
    else:
        accepted = True
    assert accepted is valid


def server_accepts(body: dict[str, Any]) -> bool:
    try:
        Text2VideoRequest.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("body", CASES)
def test_schema_and_server_agree(body: dict[str, Any]) -> None:
    schema_accepts = jsonschema.Draft202012Validator(SCHEMA).is_valid(body)
    assert schema_accepts == server_accepts(body)


def test_the_cases_cover_both_sides() -> None:
    verdicts = {server_accepts(body) for body in CASES}
    assert verdicts == {True, False}
