"""Validation of the create body, per kling-api.md."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from openkling.api.errors import validation_to_kling
from openkling.core.errors import Code
from openkling.core.models import Text2VideoRequest, normalized_request


def parse(**body: Any) -> Text2VideoRequest:
    return Text2VideoRequest.model_validate(body)


def error_for(**body: Any) -> tuple[int, str]:
    with pytest.raises(ValidationError) as info:
        parse(**body)
    err = validation_to_kling([dict(e) for e in info.value.errors()])
    return int(err.code), err.message


def test_defaults_are_filled_in_when_normalized() -> None:
    stored = normalized_request(parse(prompt="a cat"), "kling-v1")
    assert stored == {
        "model_name": "kling-v1", "prompt": "a cat", "negative_prompt": None, "cfg_scale": 0.5,
        "mode": "std", "aspect_ratio": "16:9", "duration": 5, "camera_control": None,
    }


def test_model_is_an_alias_of_model_name() -> None:
    assert parse(prompt="x", model="kling-v1-6").model_name == "kling-v1-6"
    assert parse(prompt="x", model_name="kling-v2-master").model_name == "kling-v2-master"


@pytest.mark.parametrize("value", [5, "5", 5.0])
def test_duration_accepts_number_and_string(value: Any) -> None:
    assert parse(prompt="x", duration=value).duration == "5"


@pytest.mark.parametrize("value", ["five", 5.5, True, "", [5], "16", 2])
def test_duration_rejects_other_values(value: Any) -> None:
    code, message = error_for(prompt="x", duration=value)
    assert code == Code.INVALID_PARAMETER and message.startswith("duration:")


def test_prompt_required_and_not_blank() -> None:
    assert error_for() == (1201, "prompt: Field required")
    assert error_for(prompt="   ")[1] == "prompt: must not be empty"


def test_prompt_and_negative_prompt_limits() -> None:
    parse(prompt="x" * 2500, negative_prompt="y" * 2500)
    assert error_for(prompt="x" * 2501)[1].startswith("prompt:")
    assert error_for(prompt="x", negative_prompt="y" * 2501)[1].startswith("negative_prompt:")


@pytest.mark.parametrize("value", [-0.01, 1.01, "high"])
def test_cfg_scale_range(value: Any) -> None:
    assert error_for(prompt="x", cfg_scale=value)[1].startswith("cfg_scale:")


@pytest.mark.parametrize("field,value", [("mode", "ultra"), ("aspect_ratio", "4:3")])
def test_enums(field: str, value: str) -> None:
    assert error_for(prompt="x", **{field: value})[1].startswith(f"{field}:")


def test_camera_control_simple_needs_exactly_one_axis() -> None:
    ok = parse(prompt="x", camera_control={"type": "simple", "config": {"zoom": 5}})
    assert ok.camera_control is not None and ok.camera_control.config is not None
    assert error_for(prompt="x", camera_control={"type": "simple"})[1] == (
        "camera_control: config is required when type is 'simple'"
    )
    message = error_for(prompt="x", camera_control={"type": "simple", "config": {}})[1]
    assert message.startswith("camera_control.config: exactly one")
    message = error_for(
        prompt="x", camera_control={"type": "simple", "config": {"pan": 1, "tilt": -1}}
    )[1]
    assert "(got 2)" in message
    message = error_for(prompt="x", camera_control={"type": "simple", "config": {"roll": 11}})[1]
    assert message.startswith("camera_control.config.roll:")


def test_camera_control_presets_take_no_config() -> None:
    parse(prompt="x", camera_control={"type": "forward_up"})
    parse(prompt="x", camera_control={"type": "down_back", "config": None})
    message = error_for(prompt="x", camera_control={"type": "left_turn_forward",
                                                    "config": {"pan": 1}})[1]
    assert message == "camera_control: config must be absent when type is 'left_turn_forward'"
    assert error_for(prompt="x", camera_control={"type": "spin"})[1].startswith(
        "camera_control.type:")


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert parse(prompt="x", sound="on").prompt == "x"


def test_empty_optional_strings_mean_absent() -> None:
    req = parse(prompt="x", external_task_id="", callback_url="")
    assert req.external_task_id is None and req.callback_url is None
