"""videos/omni-video (kling-video-o1) on Wan VACE: Kling's fields (kling-api.md: prompt <= 2500
with <<<image_N>>> references, image_list[{image_url, type}] up to 7, an end_frame only with a
first_frame and at most 2 images, duration 3..10, aspect_ratio, mode, cfg_scale) mapped field
by field, both sides of each limit, and every field the model cannot honour refused naming it
(docs/providers.md)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES, OMNI_VIDEO
from openkling.providers.diffusers.families import DEFAULT_VACE_MODEL, TINY_VACE_MODEL
from openkling.providers.diffusers.model_options import DEFAULT_NEGATIVE_PROMPT
from openkling.providers.diffusers.omni_video import (
    SourceVideo,
    check_fields,
    frame_conditioning,
    nearest_ratio,
    omni_video_call,
    omni_video_options,
    source_conditioning,
)

DEFAULTS = omni_video_options({}, tiny=False)
WIDE, UPRIGHT, SQUARE = (1280, 720), (720, 1280), (600, 600)


def paths(count: int, size: tuple[int, int] = WIDE) -> list[tuple[str, tuple[int, int]]]:
    return [(f"w/image_list.{index}.image_url.png", size) for index in range(count)]


def call(request: dict[str, Any], images: list[tuple[str, tuple[int, int]]] | None = None,
         **options: Any) -> Any:
    if images is None:
        images = paths(len(request.get("image_list") or []))
    return omni_video_call({"model_name": "kling-video-o1", "prompt": "a walk", **request},
                           images=images, seed=7,
                           options=omni_video_options(options, tiny=False))


def refused(request: dict[str, Any],
            images: list[tuple[str, tuple[int, int]]] | None = None) -> str:
    with pytest.raises(KlingError) as info:
        call(request, images)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_the_default_model_is_wan_vace_1_3b_and_the_tiny_one_with_the_tiny_models() -> None:
    assert DEFAULTS.model == DEFAULT_VACE_MODEL == "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
    tiny = omni_video_options({}, tiny=True)
    assert tiny.model == TINY_VACE_MODEL == "tiny-random-wan-vace"
    assert omni_video_options({"fps": 8}, tiny=True).fps == 8  # the operator's option wins


def test_text_only_makes_a_5_s_16_9_std_video() -> None:
    made = call({})
    assert (made.width, made.height) == (832, 480)
    assert made.num_frames == 81 and made.fps == 16  # 5 s at 16 fps, 4k + 1 frames
    assert made.num_inference_steps == DEFAULTS.std_steps
    assert made.guidance_scale == 5.0  # cfg_scale 0.5
    assert made.prompt == "a walk" and made.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert made.reference_image_paths == []
    assert made.first_frame_path is None and made.end_frame_path is None
    assert made.seed == 7 and made.kind == "video"


def test_untyped_images_are_references_in_order_and_typed_ones_the_frames() -> None:
    made = call({"image_list": [{}, {"type": "first_frame"}]})
    assert made.reference_image_paths == ["w/image_list.0.image_url.png"]
    assert made.first_frame_path == "w/image_list.1.image_url.png"
    assert made.end_frame_path is None
    both = call({"image_list": [{"type": "end_frame"}, {"type": "first_frame"}]})
    assert both.first_frame_path == "w/image_list.1.image_url.png"
    assert both.end_frame_path == "w/image_list.0.image_url.png"
    assert both.reference_image_paths == []
    assert both.to_dict()["end_frame_path"] == "w/image_list.0.image_url.png"


@pytest.mark.parametrize("count", [1, 7])
def test_up_to_7_images_are_taken(count: int) -> None:
    assert len(call({"image_list": [{}] * count}).reference_image_paths) == count


def test_8_images_are_refused() -> None:
    assert refused({"image_list": [{}] * 8}).startswith("image_list: ")


def test_an_end_frame_needs_a_first_frame() -> None:
    assert refused({"image_list": [{"type": "end_frame"}]}).startswith("image_list: ")
    assert refused({"image_list": [{}, {"type": "end_frame"}]}).startswith("image_list: ")
    assert call({"image_list": [{"type": "first_frame"}, {"type": "end_frame"}]}) \
        .end_frame_path is not None


def test_an_end_frame_beside_a_third_image_is_refused() -> None:
    message = refused({"image_list": [{"type": "first_frame"}, {"type": "end_frame"}, {}]})
    assert message.startswith("image_list: ")
    # A first frame with two references (3 images, no end frame) is taken.
    made = call({"image_list": [{"type": "first_frame"}, {}, {}]})
    assert len(made.reference_image_paths) == 2


@pytest.mark.parametrize("images", [[{"type": "first_frame"}] * 2,
                                    [{"type": "first_frame"}, *[{"type": "end_frame"}] * 2]])
def test_two_frames_of_one_kind_are_refused(images: list[dict[str, Any]]) -> None:
    assert refused({"image_list": images}).startswith("image_list: ")


@pytest.mark.parametrize("kind", ["last_frame", "reference", "FIRST_FRAME"])
def test_an_unknown_type_is_refused_naming_it(kind: str) -> None:
    assert refused({"image_list": [{"type": kind}]}).startswith("image_list.0.type: ")


def test_the_request_model_takes_any_type_and_requires_image_url() -> None:
    """The type is the local provider's to check (above): the relay forwards a new kind."""
    request = FAMILIES[OMNI_VIDEO].request
    for kind in ("first_frame", "end_frame", "middle_frame", None):
        item = {"image_url": "https://example.com/a.png", **({"type": kind} if kind else {})}
        request.model_validate({"prompt": "p", "image_list": [item]})
    with pytest.raises(ValidationError) as info:
        request.model_validate({"prompt": "p", "image_list": [{"image": "x"}]})
    assert info.value.errors()[0]["loc"] == ("image_list", 0, "image_url")


def test_the_request_model_requires_a_prompt_of_at_most_2500_characters() -> None:
    request = FAMILIES[OMNI_VIDEO].request
    assert request.model_validate({"prompt": "x" * 2500}).prompt == "x" * 2500  # type: ignore[attr-defined]
    for body in ({"prompt": "x" * 2501}, {}, {"prompt": " "}):
        with pytest.raises(ValidationError) as info:
            request.model_validate(body)
        assert info.value.errors()[0]["loc"] == ("prompt",)


def test_the_prompt_limit_on_both_sides() -> None:
    assert call({"prompt": "x" * 2500}).prompt == "x" * 2500
    assert refused({"prompt": "x" * 2501}).startswith("prompt: ")
    assert refused({"prompt": None}).startswith("prompt: ")


def test_image_references_become_words_naming_the_image() -> None:
    made = call({"prompt": "<<<image_1>>> walks from <<<image_2>>> to <<<image_3>>>",
                 "image_list": [{}, {"type": "first_frame"}, {}]})
    assert made.prompt == "image 1 walks from the first frame to image 3"
    frames = call({"prompt": "from <<<image_1>>> to <<<image_2>>>",
                   "image_list": [{"type": "first_frame"}, {"type": "end_frame"}]})
    assert frames.prompt == "from the first frame to the last frame"


@pytest.mark.parametrize(("prompt", "count"), [("<<<image_2>>> runs", 1),
                                               ("<<<image_0>>> runs", 1),
                                               ("<<<image_1>>> runs", 0),
                                               ("<<<element_1>>> runs", 1),
                                               ("<<<video_1>>> runs", 1)])
def test_a_reference_beyond_the_lists_is_refused_naming_prompt(prompt: str, count: int) -> None:
    assert refused({"prompt": prompt, "image_list": [{}] * count}).startswith("prompt: ")


@pytest.mark.parametrize(("duration", "frames"), [(3, 49), (5, 81), (10, 161)])
def test_duration_3_to_10_is_frames_at_the_models_fps(duration: int, frames: int) -> None:
    assert call({"duration": duration}).num_frames == frames


@pytest.mark.parametrize("duration", [2, 11, "5", 5.5, True])
def test_a_duration_outside_3_to_10_is_refused(duration: Any) -> None:
    assert refused({"duration": duration}).startswith("duration: ")


def test_the_request_model_reads_the_duration_as_every_family_does() -> None:
    request, normalize = FAMILIES[OMNI_VIDEO].request, FAMILIES[OMNI_VIDEO].normalize
    assert normalize is not None
    for sent in ("3", 10, "10"):
        stored = normalize(request.model_validate({"prompt": "p", "duration": sent}),
                           "kling-video-o1")
        assert stored["duration"] == int(sent)
    with pytest.raises(ValidationError):
        request.model_validate({"prompt": "p", "duration": "2"})


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (832, 480)), ("9:16", (480, 832)),
                                             ("1:1", (624, 624))])
def test_aspect_ratio_is_the_frame_shape(ratio: str, size: tuple[int, int]) -> None:
    made = call({"aspect_ratio": ratio})
    assert (made.width, made.height) == size


def test_without_aspect_ratio_a_first_frame_picks_the_nearest_ratio() -> None:
    first = [{"type": "first_frame"}]
    assert (call({"image_list": first}, paths(1, UPRIGHT)).width,
            call({"image_list": first}, paths(1, UPRIGHT)).height) == (480, 832)
    assert call({"image_list": first}, paths(1, SQUARE)).width == 624
    assert call({"image_list": first}, paths(1, WIDE)).width == 832
    # A reference image's shape does not choose: 16:9 then.
    assert call({"image_list": [{}]}, paths(1, UPRIGHT)).width == 832
    # A sent aspect ratio wins over the first frame's shape.
    assert call({"image_list": first, "aspect_ratio": "16:9"}, paths(1, UPRIGHT)).width == 832


@pytest.mark.parametrize(("size", "ratio"), [((1000, 400), "16:9"), ((400, 1000), "9:16"),
                                             ((500, 400), "1:1"), ((400, 500), "1:1"),
                                             ((700, 400), "16:9")])
def test_nearest_ratio(size: tuple[int, int], ratio: str) -> None:
    assert nearest_ratio(size) == ratio


def test_mode_and_cfg_scale() -> None:
    assert call({"mode": "pro"}).num_inference_steps == DEFAULTS.pro_steps
    assert call({"cfg_scale": 0}).guidance_scale == 1.0
    assert call({"cfg_scale": 1}).guidance_scale == 9.0
    assert call({"negative_prompt": "blur"}).negative_prompt == "blur"
    assert refused({"mode": "ultra"}).startswith("mode: ")
    assert refused({"cfg_scale": 1.5}).startswith("cfg_scale: ")
    assert refused({"aspect_ratio": "4:3"}).startswith("aspect_ratio: ")


@pytest.mark.parametrize(("field", "value"), [
    ("element_list", [{"element_id": 123}]),
    ("sound", "on"),
    ("multi_shot", True),
    ("shot_type", "customize"),
    ("multi_prompt", [{"index": 1, "prompt": "a", "duration": "5"}]),
    ("watermark_info", {"enabled": True}),
    ("camera_control", {"type": "down_back"}),
    ("future_field", {"added": "later"}),
])
def test_a_field_that_asks_for_something_the_model_cannot_do_is_refused_naming_it(
        field: str, value: Any) -> None:
    assert refused({field: value}).startswith(f"{field}: not supported by ")


def test_values_that_ask_for_nothing_are_taken() -> None:
    made = call({"sound": "off", "multi_shot": False, "watermark_info": {"enabled": False},
                 "element_list": [], "video_list": []})
    assert made.num_frames == 81


def test_an_unknown_key_of_an_image_is_refused_naming_it() -> None:
    assert refused({"image_list": [{"weight": 2}]}).startswith("image_list.0.weight: ")


def test_frame_conditioning_keeps_the_given_frames_and_leaves_the_rest_grey_to_make() -> None:
    from PIL import Image

    red, blue = Image.new("RGB", (16, 8), (255, 0, 0)), Image.new("RGB", (16, 8), (0, 0, 255))
    video, mask = frame_conditioning(red, blue, (16, 8), 5)
    assert len(video) == len(mask) == 5
    assert video[0] is red and video[4] is blue
    assert [frame.getpixel((3, 3)) for frame in video[1:4]] == [(128, 128, 128)] * 3
    assert [m.getpixel((3, 3)) for m in mask] == [0, 255, 255, 255, 0]
    only_first, first_mask = frame_conditioning(red, None, (16, 8), 5)
    assert only_first[4].getpixel((0, 0)) == (128, 128, 128)
    assert [m.getpixel((0, 0)) for m in first_mask] == [0, 255, 255, 255, 255]


# --- video_list: a video to edit (refer_type "base") ---

URL = "https://example.com/v.mp4"
#: A 1280 x 720 source of 5 s at 30 fps (151 frames: 150 intervals).
SOURCE = SourceVideo("w/source_video.mp4", 1280, 720, 30.0, 151)


def edit(request: dict[str, Any], source: SourceVideo | None = SOURCE,
         images: list[tuple[str, tuple[int, int]]] | None = None) -> Any:
    body = {"model_name": "kling-video-o1", "prompt": "make it snow",
            "video_list": [{"video_url": URL, "refer_type": "base"}], **request}
    return omni_video_call(body, images=images or [], seed=7, options=DEFAULTS, source=source)


def edit_refused(request: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(KlingError) as info:
        edit(request, **kwargs)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_a_base_video_is_repainted_whole_in_its_own_shape_and_length() -> None:
    made = edit({})
    assert made.source_path == "w/source_video.mp4"
    # The source's 16:9 shape at the model's 832 x 480 area, sides multiples of 16.
    assert made.width / made.height == pytest.approx(16 / 9, rel=0.05)
    assert made.width % 16 == 0 and made.height % 16 == 0
    assert made.width * made.height == pytest.approx(832 * 480, rel=0.1)
    assert (made.num_frames, made.fps) == (81, 16)  # 5 s at 16 fps, 4k + 1 frames
    assert made.first_frame_path is None and made.end_frame_path is None


def test_an_upright_3_s_source_makes_an_upright_3_s_edit() -> None:
    upright = SourceVideo("w/source_video.mp4", 720, 1280, 24.0, 73)  # 3 s at 24 fps
    made = edit({}, source=upright)
    assert made.height > made.width and made.num_frames == 49  # 3 s at 16 fps


def test_duration_and_aspect_ratio_are_checked_but_the_edit_follows_the_source() -> None:
    made = edit({"duration": 10, "aspect_ratio": "9:16"})
    assert made.width > made.height and made.num_frames == 81
    assert edit_refused({"duration": 11}).startswith("duration: ")
    assert edit_refused({"aspect_ratio": "4:3"}).startswith("aspect_ratio: ")


def test_refer_type_defaults_to_base_and_video_1_is_the_video() -> None:
    made = edit({"video_list": [{"video_url": URL}], "prompt": "<<<video_1>>> in snow"})
    assert made.prompt == "the video in snow" and made.source_path


def test_beside_a_video_up_to_4_reference_images_and_no_frames() -> None:
    made = edit({"image_list": [{}] * 4, "prompt": "<<<image_4>>> walks into <<<video_1>>>"},
                images=paths(4))
    assert len(made.reference_image_paths) == 4
    assert made.prompt == "image 4 walks into the video"
    assert edit_refused({"image_list": [{}] * 5}, images=paths(5)).startswith(
        "image_list: takes at most 4 images beside a video")
    assert edit_refused({"image_list": [{"type": "first_frame"}]}, images=paths(1)).startswith(
        "image_list: takes no first_frame or end_frame beside a video")


@pytest.mark.parametrize(("entry", "field"), [
    ({"video_url": URL, "refer_type": "feature"}, "video_list.0.refer_type"),
    ({"video_url": URL, "refer_type": "style"}, "video_list.0.refer_type"),
    ({"video_url": URL, "keep_original_sound": "yes"}, "video_list.0.keep_original_sound"),
    ({"video_url": URL, "keep_original_sound": "maybe"}, "video_list.0.keep_original_sound"),
    ({"video_url": ""}, "video_list.0.video_url"),
    ({"refer_type": "base"}, "video_list.0.video_url"),
    ({"video_url": 7}, "video_list.0.video_url"),
    ({"video_url": URL, "start_time": 2}, "video_list.0.start_time"),
])
def test_what_a_video_entry_cannot_ask_is_refused_naming_it(entry: dict[str, Any],
                                                            field: str) -> None:
    assert edit_refused({"video_list": [entry]}).startswith(f"{field}: ")


def test_kling_takes_one_video_and_a_list_of_objects() -> None:
    assert edit_refused({"video_list": [{"video_url": URL}] * 2}).startswith(
        "video_list: takes at most 1 video")
    assert edit_refused({"video_list": URL}).startswith("video_list: must be a list")
    assert edit_refused({"prompt": "<<<video_2>>> in snow"}).startswith("prompt: ")


def test_keep_original_sound_no_and_an_empty_list_ask_for_nothing() -> None:
    made = edit({"video_list": [{"video_url": URL, "keep_original_sound": "no"}]})
    assert made.source_path == "w/source_video.mp4"
    assert call({"video_list": []}).source_path is None


def test_the_create_checks_the_fields_before_fetching_and_the_video_must_be_stored() -> None:
    body = {"prompt": "make it snow", "video_list": [{"video_url": f" {URL} "}]}
    assert check_fields(body, 0) == URL
    assert check_fields({"prompt": "a walk"}, 0) is None
    with pytest.raises(KlingError) as info:
        check_fields({**body, "mode": "ultra"}, 0)  # refused before any download
    assert info.value.message.startswith("mode: ")
    assert edit_refused({}, source=None).startswith("video_list: the video was not fetched")


def test_the_source_frames_are_the_conditioning_under_an_all_white_mask() -> None:
    import numpy as np

    frames = [np.full((90, 160, 3), value, dtype=np.uint8) for value in (10, 200)]
    video, mask = source_conditioning(frames, (64, 32))
    assert [frame.size for frame in video] == [(64, 32)] * 2
    assert [frame.getpixel((5, 5)) for frame in video] == [(10, 10, 10), (200, 200, 200)]
    assert all(m.size == (64, 32) and m.getextrema() == (255, 255) for m in mask)
