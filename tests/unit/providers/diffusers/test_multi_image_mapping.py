"""videos/multi-image2video on Wan VACE: Kling's fields (kling-api.md: image_list[{image}] up
to 4, prompt, negative_prompt, mode, duration, aspect_ratio) mapped field by field, both sides
of each limit, and every field the model cannot honour refused naming it (docs/providers.md)."""

from __future__ import annotations

from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import (
    DEFAULT_VACE_MODEL,
    TINY_VACE_MODEL,
    multi_image2video_call,
    multi_image_options,
    reference_inputs,
)
from openkling.providers.diffusers.model_options import DEFAULT_NEGATIVE_PROMPT

DEFAULTS = multi_image_options({}, tiny=False)
REFS = ["w/image_list.0.image.png", "w/image_list.1.image.jpg"]


def call(request: dict[str, Any], refs: list[str] | None = None, **options: Any) -> Any:
    return multi_image2video_call(
        {"model_name": "kling-v1-6", "prompt": "they dance", **request},
        reference_paths=REFS if refs is None else refs, seed=7,
        options=multi_image_options(options, tiny=False))


def refused(request: dict[str, Any], refs: list[str] | None = None) -> str:
    with pytest.raises(KlingError) as info:
        call(request, refs)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_the_default_model_is_wan_vace_1_3b_and_the_tiny_one_with_the_tiny_models() -> None:
    assert DEFAULTS.model == DEFAULT_VACE_MODEL == "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
    tiny = multi_image_options({}, tiny=True)
    assert tiny.model == TINY_VACE_MODEL == "tiny-random-wan-vace"
    assert (tiny.width, tiny.height, tiny.fps, tiny.frame_step) == (80, 48, 16, 4)
    # An operator's option wins over the tiny defaults.
    assert multi_image_options({"fps": 8}, tiny=True).fps == 8


def test_kling_defaults_make_a_5_s_16_9_std_video_with_the_images_as_references() -> None:
    made = call({})
    assert (made.width, made.height) == (832, 480)  # 16:9 at the model's 480p
    assert made.num_frames == 81 and made.fps == 16  # 5 s at 16 fps, 4k + 1 frames
    assert made.num_inference_steps == DEFAULTS.std_steps
    assert made.guidance_scale == 5.0  # cfg_scale 0.5
    assert made.prompt == "they dance" and made.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert made.reference_image_paths == REFS  # in Kling's order
    assert made.seed == 7 and made.kind == "video"
    assert made.to_dict()["reference_image_paths"] == REFS


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (832, 480)), ("9:16", (480, 832)),
                                             ("1:1", (624, 624))])
def test_aspect_ratio_is_the_frame_shape(ratio: str, size: tuple[int, int]) -> None:
    made = call({"aspect_ratio": ratio})
    assert (made.width, made.height) == size


@pytest.mark.parametrize(("duration", "frames"), [(5, 81), (10, 161)])
def test_duration_is_frames_at_the_models_fps(duration: int, frames: int) -> None:
    made = call({"duration": duration})
    assert made.num_frames == frames and made.num_frames / made.fps == pytest.approx(
        duration, abs=0.1)


def test_mode_picks_the_steps_and_cfg_scale_the_guidance() -> None:
    assert call({"mode": "pro"}).num_inference_steps == DEFAULTS.pro_steps
    assert call({"mode": "std"}).num_inference_steps == DEFAULTS.std_steps
    assert call({"cfg_scale": 0}).guidance_scale == 1.0
    assert call({"cfg_scale": 1}).guidance_scale == 9.0


def test_the_clients_negative_prompt_replaces_the_default() -> None:
    assert call({"negative_prompt": "rain"}).negative_prompt == "rain"
    assert call({"negative_prompt": ""}).negative_prompt == DEFAULT_NEGATIVE_PROMPT


@pytest.mark.parametrize("count", [1, 4])
def test_one_to_four_images_are_taken(count: int) -> None:
    refs = [f"w/image_list.{i}.image.png" for i in range(count)]
    assert call({}, refs).reference_image_paths == refs


def test_no_image_is_refused_naming_image_list() -> None:
    assert refused({}, []).startswith("image_list: is required: 1 to 4 reference images")


def test_a_fifth_image_is_refused() -> None:
    refs = [f"w/image_list.{i}.image.png" for i in range(5)]
    assert refused({}, refs) == "image_list: takes at most 4 images"


@pytest.mark.parametrize("prompt", [None, "", "   "])
def test_a_prompt_is_required(prompt: str | None) -> None:
    assert refused({"prompt": prompt}).startswith("prompt: is required")


def test_the_prompt_takes_2500_characters_and_no_more() -> None:
    assert call({"prompt": "x" * 2500}).prompt == "x" * 2500
    assert refused({"prompt": "x" * 2501}) == "prompt: must be text of at most 2500 characters"
    assert refused({"negative_prompt": "x" * 2501}).startswith("negative_prompt: ")


@pytest.mark.parametrize(("field", "value"), [("mode", "ultra"), ("aspect_ratio", "4:3"),
                                              ("cfg_scale", 1.5), ("cfg_scale", -0.1),
                                              ("cfg_scale", True), ("duration", 0)])
def test_a_value_outside_klings_is_refused_naming_the_field(field: str, value: Any) -> None:
    assert refused({field: value}).startswith(f"{field}: ")


@pytest.mark.parametrize(("field", "value"), [
    ("camera_control", {"type": "down_back"}), ("image_tail", "aGk="), ("sound", "on"),
    ("multi_shot", True), ("static_mask", "aGk="), ("element_list", [{"element_id": 1}]),
    ("watermark_info", {"enabled": True}),
])
def test_a_field_the_model_cannot_honour_is_refused_naming_it(field: str, value: Any) -> None:
    assert refused({field: value}) == (
        f"{field}: not supported by the local diffusers provider for videos/multi-image2video "
        "(it takes image_list, prompt, negative_prompt, cfg_scale, mode, duration and "
        "aspect_ratio)")


@pytest.mark.parametrize(("field", "value"), [
    ("sound", "off"), ("multi_shot", False), ("watermark_info", {"enabled": False}),
    ("image_tail", ""), ("callback_url", None),
])
def test_values_that_ask_for_nothing_are_accepted(field: str, value: Any) -> None:
    assert call({field: value}).reference_image_paths == REFS


def test_a_key_beside_an_image_in_image_list_is_refused_naming_its_place() -> None:
    message = refused({"image_list": [{}, {"type": "first_frame"}]})
    assert message.startswith("image_list.1.type: not supported")
    assert call({"image_list": [{}, {}]}).reference_image_paths == REFS


def test_the_stored_references_are_read_in_the_clients_order() -> None:
    inputs = {f"image_list.{i}.image": {"key": f"inputs/1/image_list.{i}.image.png"}
              for i in (10, 2, 0)}
    inputs["image"] = {"key": "inputs/1/image.png"}
    assert [name for name, _ in reference_inputs(inputs)] == [
        "image_list.0.image", "image_list.2.image", "image_list.10.image"]
