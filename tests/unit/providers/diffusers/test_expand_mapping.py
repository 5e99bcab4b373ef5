"""Kling images/editing/expand requests -> outpainting calls (pure, no torch).

The limits are Kling's (its reference for the family, kling-api.md's field list): each of
`up/down/left/right_expansion_ratio` is 0..2 times the image's side, the expanded picture is
at most 3 times the image's area, `prompt` <= 2500 characters, `n` 1..9. Each is tested on
both sides."""

from __future__ import annotations

from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import ExpandOptions, expand_call, expand_options

REAL = ExpandOptions()
TINY = expand_options({}, tiny=True)
SIZE = (400, 300)


def call(request: dict[str, Any], options: ExpandOptions = REAL) -> Any:
    return expand_call(request, image_size=SIZE, image_path="/w/image.png", seed=7,
                       options=options)


def refused(request: dict[str, Any]) -> KlingError:
    with pytest.raises(KlingError) as caught:
        call(request)
    assert (caught.value.http_status, caught.value.code) == (400, 1201)
    return caught.value


def test_the_canvas_grows_by_each_ratio_and_the_image_sits_inside() -> None:
    made = call({"up_expansion_ratio": 0.5, "down_expansion_ratio": 0.25,
                 "left_expansion_ratio": 0.1, "right_expansion_ratio": 0.2, "prompt": "sky"})
    assert (made.width, made.height) == (520, 525)  # 400 x 1.3, 300 x 1.75
    assert (made.left, made.top) == (40, 150)
    assert (made.prompt, made.n, made.seed, made.kind) == ("sky", 1, 7, "expand")
    assert made.work_width % REAL.size_multiple == 0 == made.work_height % REAL.size_multiple
    assert abs(made.work_width * made.work_height - REAL.area) / REAL.area < 0.05
    assert (made.num_inference_steps, made.guidance_scale) == (REAL.steps, REAL.guidance)


@pytest.mark.parametrize("ratio", ["up_expansion_ratio", "down_expansion_ratio",
                                   "left_expansion_ratio", "right_expansion_ratio"])
def test_each_ratio_is_0_to_2(ratio: str) -> None:
    assert call({ratio: 2.0}).width * call({ratio: 2.0}).height == 3 * SIZE[0] * SIZE[1]
    assert call({ratio: 0, "up_expansion_ratio" if ratio != "up_expansion_ratio"
                 else "down_expansion_ratio": 0.1}).n == 1
    for bad in (2.01, -0.01, "0.5", True, [1], float("nan")):
        assert refused({ratio: bad}).message.startswith(f"{ratio}: ")


def test_the_expanded_area_is_at_most_3_times_the_image() -> None:
    made = call({"left_expansion_ratio": 0.5, "right_expansion_ratio": 0.5,
                 "up_expansion_ratio": 0.25, "down_expansion_ratio": 0.25})  # 2 x 1.5 = 3
    assert (made.width, made.height) == (800, 450)
    message = refused({"left_expansion_ratio": 0.5, "right_expansion_ratio": 0.5,
                       "up_expansion_ratio": 0.25, "down_expansion_ratio": 0.26}).message
    assert "at most 3" in message


def test_something_must_be_expanded() -> None:
    assert "at least one expansion ratio" in refused({"prompt": "sky"}).message
    assert "at least one expansion ratio" in refused(
        {"up_expansion_ratio": 0, "down_expansion_ratio": 0.0}).message
    assert call({"up_expansion_ratio": 0.01}).height == 303


def test_the_prompt_is_optional_and_at_most_2500_characters() -> None:
    assert call({"up_expansion_ratio": 1}).prompt == ""
    assert call({"up_expansion_ratio": 1, "prompt": "x" * 2500}).prompt == "x" * 2500
    assert refused({"up_expansion_ratio": 1, "prompt": "x" * 2501}).message.startswith(
        "prompt: ")
    assert refused({"up_expansion_ratio": 1, "prompt": 5}).message.startswith("prompt: ")


def test_n_is_1_to_9() -> None:
    assert call({"up_expansion_ratio": 1, "n": 1}).n == 1
    assert call({"up_expansion_ratio": 1, "n": 9}).n == 9
    for bad in (0, 10, 2.0, "2", True):
        assert refused({"up_expansion_ratio": 1, "n": bad}).message.startswith("n: ")


@pytest.mark.parametrize("field", ["negative_prompt", "aspect_ratio", "future_field",
                                   "image_fidelity"])
def test_any_other_field_is_refused_naming_it(field: str) -> None:
    message = refused({"up_expansion_ratio": 1, field: "x"}).message
    assert message.startswith(f"{field}: not supported by the local diffusers provider")


def test_values_that_ask_for_nothing_and_the_servers_fields_are_accepted() -> None:
    request = {"up_expansion_ratio": 1, "watermark_info": {"enabled": False},
               "routed_model": "kling-v1", "inputs": {"image": {}}, "front": {}}
    assert call(request).height == 600
    assert refused({"up_expansion_ratio": 1, "watermark_info": {"enabled": True}}) \
        .message.startswith("watermark_info: ")


def test_the_tiny_model_renders_small_in_few_steps() -> None:
    assert TINY.model == "tiny-random-qwen-image" and TINY.steps <= 2
    made = call({"up_expansion_ratio": 1}, TINY)
    assert made.work_width * made.work_height <= 64 * 64 * 1.1
