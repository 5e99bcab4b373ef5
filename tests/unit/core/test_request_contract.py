"""The text2video create body against /work/shared/kling-api.md and docs/api.md: every
boundary on both sides, the stored (normalized) request, and the body a relay sends upstream.

Expected values are literals from the contract, not the module's constants."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from pydantic import ValidationError

from openkling.api.errors import validation_to_kling
from openkling.core.models import Text2VideoRequest, normalized_request, spec_from_stored

AXES = ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"]


def parse(**body: Any) -> Text2VideoRequest:
    return Text2VideoRequest.model_validate(body)


def refusal(**body: Any) -> str:
    """The Kling message a refused body gets (always 400 / 1201 here)."""
    with pytest.raises(ValidationError) as info:
        parse(**body)
    err = validation_to_kling([dict(e) for e in info.value.errors()])
    assert (err.http_status, int(err.code)) == (400, 1201)
    return err.message


def stored(**body: Any) -> dict[str, Any]:
    return normalized_request(parse(**body), "kling-v1")


# ----- lengths: prompt and negative_prompt 2500, callback_url 2048, external_task_id 128 ----

@pytest.mark.parametrize("field,limit", [("prompt", 2500), ("negative_prompt", 2500),
                                         ("callback_url", 2048), ("external_task_id", 128)])
def test_max_lengths_on_both_sides(field: str, limit: int) -> None:
    body: dict[str, Any] = {"prompt": "p"}
    assert getattr(parse(**{**body, field: "x" * limit}), field) == "x" * limit
    assert refusal(**{**body, field: "x" * (limit + 1)}) == (
        f"{field}: String should have at most {limit} characters")


@pytest.mark.parametrize("field", ["model_name", "prompt", "negative_prompt", "callback_url",
                                   "external_task_id"])
def test_nul_characters_are_refused_in_every_text_field(field: str) -> None:
    assert refusal(**{"prompt": "p", field: "a\x00b"}) == (
        f"{field}: must not contain NUL characters")
    assert getattr(parse(**{"prompt": "p", field: "a b"}), field) == "a b"


@pytest.mark.parametrize("prompt", ["", " ", "\n\t"])
def test_blank_prompt_is_refused(prompt: str) -> None:
    assert refusal(prompt=prompt) == "prompt: must not be empty"


def test_prompt_is_kept_verbatim() -> None:
    assert parse(prompt=" a cat ").prompt == " a cat "


# ----- cfg_scale: [0, 1], default 0.5 -------------------------------------------------------

@pytest.mark.parametrize("value", [0, 0.0, 1e-9, 0.5, 0.999999, 1, 1.0])
def test_cfg_scale_inside_the_range_is_stored(value: float) -> None:
    assert stored(prompt="p", cfg_scale=value)["cfg_scale"] == value


def test_cfg_scale_above_one_gets_the_documented_message() -> None:
    # docs/api.md quotes this exact message.
    assert refusal(prompt="p", cfg_scale=1.000001) == (
        "cfg_scale: Input should be less than or equal to 1")
    assert refusal(prompt="p", cfg_scale=2) == (
        "cfg_scale: Input should be less than or equal to 1")


@pytest.mark.parametrize("value", [-1e-9, -0.000001, -1])
def test_cfg_scale_below_zero_is_refused(value: float) -> None:
    assert refusal(prompt="p", cfg_scale=value) == (
        "cfg_scale: Input should be greater than or equal to 0")


@pytest.mark.parametrize("value", [True, False])
def test_cfg_scale_boolean_is_refused(value: bool) -> None:
    assert refusal(prompt="p", cfg_scale=value) == (
        "cfg_scale: must be a number in [0, 1], not a boolean")


def test_cfg_scale_defaults_to_a_half_and_zero_is_not_absent() -> None:
    assert stored(prompt="p")["cfg_scale"] == 0.5
    assert stored(prompt="p", cfg_scale=None)["cfg_scale"] == 0.5
    assert stored(prompt="p", cfg_scale=0)["cfg_scale"] == 0


# ----- mode, aspect_ratio -------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["std", "pro"])
def test_both_modes_are_accepted_and_stored(mode: str) -> None:
    assert stored(prompt="p", mode=mode)["mode"] == mode


@pytest.mark.parametrize("mode", ["STD", "Pro", "ultra", ""])
def test_other_modes_are_refused(mode: str) -> None:
    assert refusal(prompt="p", mode=mode).startswith("mode: Input should be 'std' or 'pro'")


@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1"])
def test_the_three_aspect_ratios_are_accepted_and_stored(ratio: str) -> None:
    assert stored(prompt="p", aspect_ratio=ratio)["aspect_ratio"] == ratio


@pytest.mark.parametrize("ratio", ["4:3", "16/9", "1:1 ", ""])
def test_other_aspect_ratios_are_refused(ratio: str) -> None:
    assert refusal(prompt="p", aspect_ratio=ratio).startswith("aspect_ratio: Input should be")


# ----- duration: "5" / "10", 3..15, a whole number given as string or number ----------------

@pytest.mark.parametrize("value,seconds", [(3, 3), ("3", 3), (5, 5), ("5", 5),
                                           ("05", 5), (10, 10), (10.0, 10), ("10", 10),
                                           (15, 15), ("15", 15)])
def test_durations_from_3_to_15_are_stored_as_seconds(value: Any, seconds: int) -> None:
    assert parse(prompt="p", duration=value).duration == str(seconds)
    assert stored(prompt="p", duration=value)["duration"] == seconds


@pytest.mark.parametrize("value", [2, "2", 0, -5, 16, "16", 16.0])
def test_durations_outside_3_to_15_are_refused(value: Any) -> None:
    assert refusal(prompt="p", duration=value) == (
        'duration: must be "5" or "10" (3..15 on models that allow it)')


@pytest.mark.parametrize("value", ["five", "5.5", "-5", "", " 5", " 5 ", "\u0665", 5.5, -5.5,
                                   10.5, math.inf, -math.inf, math.nan,
                                   True, False, [5], {"s": 5}])
def test_durations_that_are_not_whole_seconds_are_refused(value: Any) -> None:
    assert refusal(prompt="p", duration=value) == (
        'duration: must be a whole number of seconds, e.g. "5" or "10"')


def test_duration_defaults_to_five_and_null_means_absent() -> None:
    assert parse(prompt="p", duration=None).duration is None
    assert stored(prompt="p")["duration"] == 5
    assert stored(prompt="p", duration=None)["duration"] == 5


# ----- camera_control -----------------------------------------------------------------------

@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("value", [-10, -9.99, 0.01, 10, 10.0])
def test_each_axis_accepts_its_range_from_minus_10_to_10(axis: str, value: float) -> None:
    req = parse(prompt="p", camera_control={"type": "simple", "config": {axis: value}})
    assert req.camera_control is not None and req.camera_control.config is not None
    assert getattr(req.camera_control.config, axis) == value


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("value,bound", [(-10.01, "greater than or equal to -10"),
                                         (-11, "greater than or equal to -10"),
                                         (10.01, "less than or equal to 10"),
                                         (11, "less than or equal to 10")])
def test_each_axis_refuses_values_past_10(axis: str, value: float, bound: str) -> None:
    message = refusal(prompt="p", camera_control={"type": "simple", "config": {axis: value}})
    assert message == f"camera_control.config.{axis}: Input should be {bound}"


@pytest.mark.parametrize("config", [{}, {"pan": 0, "zoom": 0.0},
                                    {"pan": 1, "tilt": -1}, dict.fromkeys(AXES, 1)])
def test_exactly_one_axis_must_move(config: dict[str, float]) -> None:
    moving = sum(1 for v in config.values() if v)
    assert refusal(prompt="p", camera_control={"type": "simple", "config": config}) == (
        "camera_control.config: exactly one of horizontal, vertical, pan, tilt, roll, zoom "
        f"must be non-zero (got {moving})")


def test_extra_keys_are_forbidden_inside_camera_control() -> None:
    assert refusal(prompt="p", camera_control={"type": "forward_up", "speed": 2}) == (
        "camera_control.speed: Extra inputs are not permitted")
    assert refusal(prompt="p", camera_control={"type": "simple",
                                               "config": {"zoom": 1, "spin": 1}}) == (
        "camera_control.config.spin: Extra inputs are not permitted")


@pytest.mark.parametrize("preset", ["down_back", "forward_up", "right_turn_forward",
                                    "left_turn_forward"])
def test_presets_take_no_config_and_are_stored_bare(preset: str) -> None:
    assert stored(prompt="p", camera_control={"type": preset})["camera_control"] == {
        "type": preset}
    assert stored(prompt="p", camera_control={"type": preset, "config": None})[
        "camera_control"] == {"type": preset}
    assert refusal(prompt="p", camera_control={"type": preset, "config": {"zoom": 1}}) == (
        f"camera_control: config must be absent when type is '{preset}'")


def test_simple_needs_a_config_and_is_stored_with_all_six_axes() -> None:
    assert refusal(prompt="p", camera_control={"type": "simple"}) == (
        "camera_control: config is required when type is 'simple'")
    assert stored(prompt="p", camera_control={"type": "simple", "config": {"tilt": -2.5}})[
        "camera_control"] == {"type": "simple", "config": {
            "horizontal": 0, "vertical": 0, "pan": 0, "tilt": -2.5, "roll": 0, "zoom": 0}}


# ----- the stored request and what goes upstream --------------------------------------------

def test_every_field_is_kept_in_the_stored_request() -> None:
    assert stored(model="kling-v1-6", prompt="a cat", negative_prompt="blurry", cfg_scale=0.2,
                  mode="pro", aspect_ratio="1:1", duration="10",
                  camera_control={"type": "forward_up"}, callback_url="https://h/cb",
                  external_task_id="e-1") == {
        "model_name": "kling-v1", "prompt": "a cat", "negative_prompt": "blurry",
        "cfg_scale": 0.2, "mode": "pro", "aspect_ratio": "1:1", "duration": 10,
        "camera_control": {"type": "forward_up"},
    }


def test_defaults_from_the_contract_fill_the_stored_request() -> None:
    assert stored(prompt="a cat", negative_prompt="") == {
        "model_name": "kling-v1", "prompt": "a cat", "negative_prompt": None, "cfg_scale": 0.5,
        "mode": "std", "aspect_ratio": "16:9", "duration": 5, "camera_control": None,
    }


@pytest.mark.parametrize("field", ["callback_url", "external_task_id"])
def test_empty_transport_fields_mean_absent(field: str) -> None:
    assert getattr(parse(prompt="p", **{field: ""}), field) is None
    assert getattr(parse(prompt="p", **{field: "v"}), field) == "v"


def test_model_and_model_name_are_the_same_field() -> None:
    assert parse(prompt="p", model="kling-v2-master").model_name == "kling-v2-master"
    assert parse(prompt="p", model_name="kling-v3").model_name == "kling-v3"
    assert parse(prompt="p").model_name is None


def test_unknown_fields_are_kept_for_the_relay_and_never_fail_validation() -> None:
    req = parse(prompt="p", sound="on", multi_shot=True)
    assert req.prompt == "p"
    assert req.model_extra == {"sound": "on", "multi_shot": True}


def test_the_upstream_body_is_the_kling_create_body() -> None:
    spec = spec_from_stored("123", {
        "model_name": "kling-v1-6", "prompt": "a cat", "negative_prompt": "blurry",
        "cfg_scale": 0.2, "mode": "pro", "aspect_ratio": "9:16", "duration": 10,
        "camera_control": {"type": "simple", "config": {"zoom": 5}},
    }, {"seed": 7})
    assert spec.request_fields() == {
        "model_name": "kling-v1-6", "prompt": "a cat", "negative_prompt": "blurry",
        "cfg_scale": 0.2, "mode": "pro", "aspect_ratio": "9:16", "duration": "10",
        "camera_control": {"type": "simple", "config": {"zoom": 5}},
    }
    assert (spec.task_id, spec.kind, spec.duration, spec.options) == (
        "123", "videos/text2video", 10, {"seed": 7})


def test_the_upstream_body_leaves_out_what_the_caller_did_not_give() -> None:
    spec = spec_from_stored("9", stored(prompt="a cat"), {})
    assert spec.request_fields() == {
        "model_name": "kling-v1", "prompt": "a cat", "cfg_scale": 0.5, "mode": "std",
        "aspect_ratio": "16:9", "duration": "5",
    }
    assert spec.negative_prompt is None and spec.camera_control is None


def test_a_spec_is_immutable_and_owns_its_options() -> None:
    options = {"seed": 1}
    spec = spec_from_stored("1", stored(prompt="p", cfg_scale=1), options)
    options["seed"] = 2
    assert spec.options == {"seed": 1}
    assert spec.cfg_scale == 1.0 and isinstance(spec.cfg_scale, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.prompt = "q"  # type: ignore[misc]
