"""The published request schema states what the server enforces: a body the schema accepts
the server accepts, and one it refuses the server refuses (camera, duration, prompt).

Durations 3..15 other than 5 and 10 depend on the model (newer ones take them): the schema
publishes the two every model accepts, and the create route decides the rest."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from openkling.api.errors import validation_to_kling
from openkling.core.family_requests import (
    Image2VideoRequest,
    ImageGenerationRequest,
    PassThroughRequest,
)
from openkling.core.models import Text2VideoRequest
from openkling.core.outbound import OutboundRefused, check_url_shape

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
            check_url_shape(url)
    except OutboundRefused:
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


@pytest.mark.parametrize("prompt", ["a cat", "", "   ", " x "])
def test_images_prompt_schema_and_server_agree(prompt: str) -> None:
    schema = ImageGenerationRequest.model_json_schema()
    try:
        ImageGenerationRequest.model_validate({"prompt": prompt})
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert jsonschema.Draft202012Validator(schema).is_valid({"prompt": prompt}) is accepted
    assert accepted is bool(prompt.strip())


@pytest.mark.parametrize("field", ["image_fidelity", "human_fidelity"])
@pytest.mark.parametrize("value,valid", [(0.5, True), (1, True), (False, False), (True, False),
                                         ("0.5", False), (1.5, False), (None, True)])
def test_images_fidelity_schema_and_server_agree(field: str, value: Any, valid: bool) -> None:
    body = {"prompt": "x", field: value}
    schema = ImageGenerationRequest.model_json_schema()
    assert jsonschema.Draft202012Validator(schema).is_valid(body) is valid
    try:
        ImageGenerationRequest.model_validate(body)
    except ValidationError as exc:
        assert not valid
        assert validation_to_kling([dict(e) for e in exc.errors()]).message.startswith(field)
    else:
        assert valid


@pytest.mark.parametrize("model", [Image2VideoRequest, ImageGenerationRequest,
                                   PassThroughRequest])
@pytest.mark.parametrize("url", ["http://example.com/hook", "", "0" * 50, "example.com/hook"])
async def test_every_family_states_the_callback_url_shape(model: type[BaseModel],
                                                          url: str) -> None:
    schema = model.model_json_schema()
    try:
        if url:
            check_url_shape(url)
    except OutboundRefused:
        accepted = False
    else:
        accepted = True
    assert jsonschema.Draft202012Validator(schema).is_valid({"prompt": "x", "callback_url": url}) \
        is accepted
