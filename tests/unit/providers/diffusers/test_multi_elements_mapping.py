"""videos/multi-elements on SAM 2 + Wan VACE: Kling's create fields (kling-api.md and Kling's
docs as public clients send them: session_id, edit_mode addition|swap|removal, image_list
[{image}] (swap 1, removal none), prompt <= 2500, negative_prompt, mode std|pro, duration
"5" for a 2-5 s source and "10" for a 7-10 s one) mapped field by field, both sides of each
limit, and what the model cannot honour refused naming the field (docs/providers.md)."""

from __future__ import annotations

from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.model_options import DEFAULT_NEGATIVE_PROMPT
from openkling.providers.diffusers.multi_elements import (
    DEFAULT_SEGMENTER,
    TINY_SEGMENTER,
    multi_elements_call,
    multi_elements_options,
    output_frames,
    span_seconds,
)

CLICKS = [{"frame_index": 3, "points": [{"x": 0.5, "y": 0.5}]}]


def selection(frames: int = 81, fps: float = 16.0, size: tuple[int, int] = (1280, 720),
              clicks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"session_id": "42", "fps": fps, "total_frame": frames, "width": size[0],
            "height": size[1], "video_key": "selections/42/video.mp4",
            "clicks": CLICKS if clicks is None else clicks}


def call(request: dict[str, Any], refs: list[str] | None = None, **options: Any) -> Any:
    body = {"model_name": "kling-v1-6", "session_id": "42", "edit_mode": "removal",
            "prompt": "an empty street", "selection": selection(), **request}
    return multi_elements_call(body, reference_paths=[] if refs is None else refs,
                               video_path="w/selection.mp4", seed=7,
                               options=multi_elements_options(options, tiny=False))


def refused(request: dict[str, Any], refs: list[str] | None = None) -> str:
    with pytest.raises(KlingError) as info:
        call(request, refs)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_the_models_are_wan_vace_and_sam2_tiny_and_the_tiny_ones_with_the_tiny_model() -> None:
    real = multi_elements_options({}, tiny=False)
    assert real.model == "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
    assert real.segmenter == DEFAULT_SEGMENTER == "facebook/sam2.1-hiera-tiny"
    tiny = multi_elements_options({}, tiny=True)
    assert (tiny.model, tiny.segmenter) == ("tiny-random-wan-vace", TINY_SEGMENTER)
    assert TINY_SEGMENTER == "tiny-random-sam2-video"


def test_removal_repaints_the_selection_over_the_whole_source() -> None:
    made = call({})
    assert made.kind == "inpaint" and made.video_path == "w/selection.mp4"
    assert made.clicks == CLICKS and made.segmenter == DEFAULT_SEGMENTER
    assert made.reference_image_paths == []
    # 81 frames at 16 fps span 5 s: at the model's 16 fps, 81 frames (4k + 1).
    assert (made.num_frames, made.fps) == (81, 16)
    # The source's 16:9 at about the model's area (832 x 480 = 399,360 px), sides multiples
    # of 16: sqrt(399360 * 16 / 9) = 842.6 -> 848, 399360 / 842.6 = 474 -> 480.
    assert (made.width, made.height) == (848, 480)
    assert made.prompt == "an empty street"
    assert made.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert made.num_inference_steps == 30 and made.guidance_scale == 5.0 and made.seed == 7
    assert made.to_dict()["clicks"] == CLICKS


def test_swap_takes_one_image_as_the_reference() -> None:
    made = call({"edit_mode": "swap", "image_list": [{}]}, refs=["w/image_list.0.image.png"])
    assert made.reference_image_paths == ["w/image_list.0.image.png"]
    assert "swap" in refused({"edit_mode": "swap"}, refs=[])
    assert "swap" in refused({"edit_mode": "swap"}, refs=["a.png", "b.png"])
    assert "removal" in refused({}, refs=["a.png"])


def test_addition_is_refused_naming_edit_mode() -> None:
    assert refused({"edit_mode": "addition"}, refs=["a.png"]).startswith("edit_mode: addition")


@pytest.mark.parametrize("edit_mode", [None, "", "replace", "Removal"])
def test_edit_mode_is_required_and_one_of_kling_s_three(edit_mode: Any) -> None:
    assert refused({"edit_mode": edit_mode}).startswith("edit_mode: ")


def test_the_prompt_is_required_and_at_most_2500_characters() -> None:
    assert call({"prompt": "x" * 2500}).prompt == "x" * 2500
    assert refused({"prompt": "x" * 2501}).startswith("prompt: ")
    assert refused({"prompt": " "}).startswith("prompt: ")
    assert refused({"prompt": None}).startswith("prompt: ")
    assert call({"negative_prompt": "n" * 2500}).negative_prompt == "n" * 2500
    assert refused({"negative_prompt": "n" * 2501}).startswith("negative_prompt: ")


def test_mode_picks_the_steps() -> None:
    assert call({"mode": "pro"}).num_inference_steps == 50
    assert refused({"mode": "max"}).startswith("mode: ")


@pytest.mark.parametrize(("frames", "fps", "duration", "ok"), [
    (33, 16.0, 5, True),    # spans 2.0 s: the shortest "5" source
    (32, 16.0, 5, True),    # spans 1.94 s, plays 2.0 s
    (31, 16.0, 5, False),   # plays 1.94 s
    (81, 16.0, 5, True),    # 5.0 s: the longest
    (82, 16.0, 5, False),   # 5.06 s
    (113, 16.0, 10, True),  # 7.0 s: the shortest "10" source
    (112, 16.0, 10, True),  # plays 7.0 s
    (111, 16.0, 10, False),
    (301, 30.0, 10, True),  # 10.0 s
    (302, 30.0, 10, False),
    (81, 16.0, 10, False),  # a 5 s source cannot make "10"
    (211, 30.0, 5, False),  # a 7 s source cannot make "5"
])
def test_duration_needs_a_source_of_kling_s_length(frames: int, fps: float, duration: int,
                                                   ok: bool) -> None:
    request = {"duration": duration, "selection": selection(frames, fps)}
    if ok:
        assert call(request).num_frames == output_frames(span_seconds(frames, fps), 16, 4)
    else:
        assert refused(request).startswith("duration: ")


def test_the_output_covers_the_source_span_in_whole_latent_frames() -> None:
    assert output_frames(5.0, 16, 4) == 81
    assert output_frames(10.0, 16, 4) == 161
    assert output_frames(2.0, 16, 4) == 33
    assert output_frames(4.99, 16, 4) == 77  # 79.8 frames fit: the last whole 4k + 1


@pytest.mark.parametrize("duration", [3, "5", True, 15])
def test_duration_is_5_or_10(duration: Any) -> None:
    assert refused({"duration": duration}).startswith("duration: ")


def test_a_session_without_clicks_or_without_a_copy_is_refused() -> None:
    assert refused({"selection": selection(clicks=[])}).startswith("session_id: ")
    assert refused({"selection": None}).startswith("session_id: ")


@pytest.mark.parametrize(("field", "value"), [
    ("cfg_scale", 0.5), ("aspect_ratio", "9:16"), ("camera_control", {"type": "simple"}),
    ("watermark_info", {"enabled": True}), ("static_mask", "m"),
])
def test_fields_the_model_cannot_honour_are_refused_naming_them(field: str,
                                                                value: Any) -> None:
    assert refused({field: value}).startswith(f"{field}: ")


def test_values_that_ask_nothing_are_accepted() -> None:
    assert call({"watermark_info": {"enabled": False}, "callback_url": None}).num_frames == 81


def test_an_image_list_entry_takes_only_its_image() -> None:
    message = refused({"edit_mode": "swap", "image_list": [{"weight": 2}]}, refs=["a.png"])
    assert message.startswith("image_list.0.weight: ")
