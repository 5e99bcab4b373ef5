"""Create bodies of image2video and images/generations, on both sides of every documented rule.

Rules from /work/shared/kling-api.md ("Task families beyond text2video") and Kling's public
API reference: image2video needs `image` or `image_tail`, and `image_tail`, the masks and
`camera_control` exclude each other; at most 6 dynamic masks of 2..77 trajectory points;
images/generations takes `n` in [1, 9], fidelities in [0, 1], resolution 1k/2k and eight
aspect ratios. Every refusal is 400 / 1201 naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from openkling.api.errors import validation_to_kling
from openkling.core.family_requests import (
    Image2VideoRequest,
    ImageGenerationRequest,
    PassThroughRequest,
)

IMAGE = "aGk="  # any non-blank value: images are checked by content later (core/images.py)
SIMPLE_CAMERA = {"type": "simple", "config": {"zoom": 5}}
MASK = {"mask": "bWFzaw==", "trajectories": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}
ASPECTS = ["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"]


def refusal(model: type[BaseModel], body: dict[str, Any]) -> str:
    """The 1201 message a create with this body gets."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    error = validation_to_kling([dict(e) for e in info.value.errors()])
    assert (error.http_status, int(error.code)) == (400, 1201)
    return error.message


def i2v(**body: Any) -> Image2VideoRequest:
    return Image2VideoRequest.model_validate(body)


def images(**body: Any) -> ImageGenerationRequest:
    return ImageGenerationRequest.model_validate({"prompt": "a fox", **body})


# ----- image2video ----------------------------------------------------------------------------


def test_image_or_image_tail_alone_is_enough() -> None:
    assert i2v(image=IMAGE).image == IMAGE and i2v(image=IMAGE).image_tail is None
    assert i2v(image_tail=IMAGE).image_tail == IMAGE and i2v(image_tail=IMAGE).image is None


@pytest.mark.parametrize("body", [{}, {"image": "  "}, {"image": "", "image_tail": "\n"},
                                  {"image": None, "prompt": "x"}])
def test_neither_image_nor_image_tail_is_refused(body: dict[str, Any]) -> None:
    assert refusal(Image2VideoRequest, body) == (
        "image: at least one of image and image_tail is required")


@pytest.mark.parametrize(("body", "message"), [
    ({"image_tail": IMAGE, "camera_control": SIMPLE_CAMERA},
     "image_tail: cannot be combined with camera_control"),
    ({"image_tail": IMAGE, "static_mask": "bWFzaw=="},
     "image_tail: cannot be combined with static_mask/dynamic_masks"),
    ({"image_tail": IMAGE, "dynamic_masks": [MASK]},
     "image_tail: cannot be combined with static_mask/dynamic_masks"),
    ({"static_mask": "bWFzaw==", "camera_control": SIMPLE_CAMERA},
     "static_mask/dynamic_masks: cannot be combined with camera_control"),
    ({"dynamic_masks": [MASK], "camera_control": SIMPLE_CAMERA},
     "static_mask/dynamic_masks: cannot be combined with camera_control"),
    ({"image_tail": IMAGE, "static_mask": "bWFzaw==", "camera_control": SIMPLE_CAMERA},
     "image_tail: cannot be combined with static_mask/dynamic_masks, camera_control"),
])
def test_image_tail_masks_and_camera_control_exclude_each_other(
    body: dict[str, Any], message: str,
) -> None:
    assert refusal(Image2VideoRequest, {"image": IMAGE, **body}) == (
        f"{message} (Kling allows one of image_tail, masks and camera_control)")


@pytest.mark.parametrize("body", [
    {"image_tail": IMAGE}, {"static_mask": "bWFzaw=="}, {"dynamic_masks": [MASK]},
    {"static_mask": "bWFzaw==", "dynamic_masks": [MASK]}, {"camera_control": SIMPLE_CAMERA},
    # Blank and empty values are absent, so they combine with anything.
    {"image_tail": " ", "static_mask": "", "camera_control": SIMPLE_CAMERA},
    {"dynamic_masks": [], "image_tail": IMAGE},
])
def test_one_of_them_at_a_time_is_accepted(body: dict[str, Any]) -> None:
    req = i2v(image=IMAGE, **body)
    assert req.image == IMAGE
    if str(body.get("static_mask", "")).strip() == "":
        assert req.static_mask is None


@pytest.mark.parametrize("count", [1, 6])
def test_up_to_six_dynamic_masks(count: int) -> None:
    assert len(i2v(image=IMAGE, dynamic_masks=[MASK] * count).dynamic_masks or []) == count


def test_a_seventh_dynamic_mask_is_refused() -> None:
    assert refusal(Image2VideoRequest, {"image": IMAGE, "dynamic_masks": [MASK] * 7}
                   ).startswith("dynamic_masks: ")


@pytest.mark.parametrize("points", [2, 77])
def test_a_trajectory_has_2_to_77_points(points: int) -> None:
    mask = {"mask": "bQ==", "trajectories": [{"x": i, "y": i} for i in range(points)]}
    (parsed,) = i2v(image=IMAGE, dynamic_masks=[mask]).dynamic_masks or []
    assert len(parsed.trajectories) == points


@pytest.mark.parametrize("points", [1, 78])
def test_a_trajectory_of_1_or_78_points_is_refused(points: int) -> None:
    mask = {"mask": "bQ==", "trajectories": [{"x": i, "y": i} for i in range(points)]}
    assert refusal(Image2VideoRequest, {"image": IMAGE, "dynamic_masks": [mask]}).startswith(
        "dynamic_masks.0.trajectories: ")


def test_masks_and_points_take_no_unknown_keys() -> None:
    bad_point = {"mask": "bQ==", "trajectories": [{"x": 1, "y": 2, "z": 3}, {"x": 1, "y": 2}]}
    assert refusal(Image2VideoRequest, {"image": IMAGE, "dynamic_masks": [bad_point]}
                   ).startswith("dynamic_masks.0.trajectories.0.z: ")
    assert refusal(Image2VideoRequest, {"image": IMAGE, "dynamic_masks": [{**MASK, "w": 1}]}
                   ).startswith("dynamic_masks.0.w: ")


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, 0.5])
def test_image2video_cfg_scale_in_0_to_1(value: float) -> None:
    assert i2v(image=IMAGE, cfg_scale=value).cfg_scale == value


@pytest.mark.parametrize("value", [-0.01, 1.01, True])
def test_image2video_cfg_scale_outside_0_to_1_is_refused(value: Any) -> None:
    assert refusal(Image2VideoRequest, {"image": IMAGE, "cfg_scale": value}).startswith(
        "cfg_scale: ")


@pytest.mark.parametrize(("value", "stored"), [("5", "5"), ("10", "10"), (5, "5"), (10, "10")])
def test_image2video_duration_5_or_10_as_string_or_number(value: Any, stored: str) -> None:
    assert i2v(image=IMAGE, duration=value).duration == stored


@pytest.mark.parametrize("value", ["five", "", 5.5, True, "16", "2"])
def test_image2video_other_durations_are_refused(value: Any) -> None:
    assert refusal(Image2VideoRequest, {"image": IMAGE, "duration": value}).startswith(
        "duration: ")


@pytest.mark.parametrize("mode", ["std", "pro"])
def test_image2video_modes(mode: str) -> None:
    assert i2v(image=IMAGE, mode=mode).mode == mode


def test_image2video_unknown_mode_is_refused() -> None:
    assert refusal(Image2VideoRequest, {"image": IMAGE, "mode": "fast"}).startswith("mode: ")


def test_image2video_prompt_is_optional_and_at_most_2500() -> None:
    assert i2v(image=IMAGE).prompt is None
    assert i2v(image=IMAGE, prompt="p" * 2500, negative_prompt="n" * 2500).prompt == "p" * 2500
    assert refusal(Image2VideoRequest, {"image": IMAGE, "prompt": "p" * 2501}).startswith(
        "prompt: ")
    assert refusal(Image2VideoRequest, {"image": IMAGE, "negative_prompt": "n" * 2501}
                   ).startswith("negative_prompt: ")


# ----- fields every family has ----------------------------------------------------------------


@pytest.mark.parametrize("model", [Image2VideoRequest, ImageGenerationRequest,
                                   PassThroughRequest])
def test_common_fields(
    model: type[Image2VideoRequest] | type[ImageGenerationRequest] | type[PassThroughRequest],
) -> None:
    base = {"image": IMAGE, "prompt": "a fox"}
    req = model.model_validate({**base, "model": "kling-v1-6"})
    assert req.model_name == "kling-v1-6"
    req = model.model_validate({**base, "model_name": "kling-v2", "callback_url": "",
                                "external_task_id": ""})
    assert req.model_name == "kling-v2"
    assert req.callback_url is None and req.external_task_id is None
    at_limits = model.model_validate({**base, "callback_url": "https://e.com/" + "c" * 2034,
                                      "external_task_id": "e" * 128})
    assert len(at_limits.callback_url or "") == 2048
    assert at_limits.external_task_id == "e" * 128
    assert refusal(model, {**base, "callback_url": "https://e.com/" + "c" * 2035}).startswith(
        "callback_url: ")
    assert refusal(model, {**base, "external_task_id": "e" * 129}).startswith(
        "external_task_id: ")


@pytest.mark.parametrize("field", ["model_name", "callback_url", "external_task_id"])
def test_a_nul_character_is_refused_naming_the_field(field: str) -> None:
    for model in (Image2VideoRequest, ImageGenerationRequest, PassThroughRequest):
        assert refusal(model, {"image": IMAGE, "prompt": "x", field: "a\x00b"}) == (
            f"{field}: must not contain NUL characters")


def test_unknown_fields_are_kept_for_the_relay() -> None:
    req = i2v(image=IMAGE, sound="on", watermark_info={"enabled": True})
    assert req.extras() == {"sound": "on", "watermark_info": {"enabled": True}}
    assert i2v(image=IMAGE).extras() == {}
    effect = PassThroughRequest.model_validate({"effect_scene": "hug", "input": {"a": 1}})
    assert effect.extras() == {"effect_scene": "hug", "input": {"a": 1}}


# ----- images/generations ---------------------------------------------------------------------


def test_images_prompt_is_required_not_blank_and_at_most_2500() -> None:
    assert refusal(ImageGenerationRequest, {}) == "prompt: Field required"
    assert refusal(ImageGenerationRequest, {"prompt": " \t"}) == "prompt: must not be empty"
    assert images(prompt="p" * 2500).prompt == "p" * 2500
    assert refusal(ImageGenerationRequest, {"prompt": "p" * 2501}).startswith("prompt: ")
    assert images(negative_prompt="n" * 2500).negative_prompt == "n" * 2500
    assert refusal(ImageGenerationRequest, {"prompt": "x", "negative_prompt": "n" * 2501}
                   ).startswith("negative_prompt: ")


@pytest.mark.parametrize("n", [1, 9])
def test_n_from_1_to_9(n: int) -> None:
    assert images(n=n).n == n


@pytest.mark.parametrize("n", [0, 10, -1])
def test_n_outside_1_to_9_is_refused(n: int) -> None:
    assert refusal(ImageGenerationRequest, {"prompt": "x", "n": n}).startswith("n: ")


@pytest.mark.parametrize("n", [True, False])
def test_n_as_a_boolean_is_refused(n: bool) -> None:
    assert refusal(ImageGenerationRequest, {"prompt": "x", "n": n}) == (
        "n: must be an integer in [1, 9]")


@pytest.mark.parametrize("field", ["image_fidelity", "human_fidelity"])
@pytest.mark.parametrize("value", [0, 1, 0.25])
def test_fidelities_in_0_to_1(field: str, value: float) -> None:
    assert getattr(images(**{field: value}), field) == value


@pytest.mark.parametrize("field", ["image_fidelity", "human_fidelity"])
@pytest.mark.parametrize("value", [-0.01, 1.01])
def test_fidelities_outside_0_to_1_are_refused(field: str, value: float) -> None:
    assert refusal(ImageGenerationRequest, {"prompt": "x", field: value}).startswith(
        f"{field}: ")


@pytest.mark.parametrize("aspect", ASPECTS)
def test_every_documented_aspect_ratio_is_accepted(aspect: str) -> None:
    assert images(aspect_ratio=aspect).aspect_ratio == aspect


@pytest.mark.parametrize("aspect", ["5:4", "16:10", "1:2", ""])
def test_other_aspect_ratios_are_refused(aspect: str) -> None:
    assert refusal(ImageGenerationRequest, {"prompt": "x", "aspect_ratio": aspect}
                   ).startswith("aspect_ratio: ")


@pytest.mark.parametrize(("field", "good", "bad"), [
    ("resolution", ["1k", "2k"], ["4k", "1K"]),
    ("image_reference", ["subject", "face"], ["body", ""]),
])
def test_resolution_and_image_reference_values(field: str, good: list[str],
                                               bad: list[str]) -> None:
    for value in good:
        assert getattr(images(**{field: value}), field) == value
    for value in bad:
        assert refusal(ImageGenerationRequest, {"prompt": "x", field: value}).startswith(
            f"{field}: ")


def test_a_blank_reference_image_is_absent() -> None:
    assert images(image="  ").image is None
    assert images(image=IMAGE).image == IMAGE


# ----- videos/multi-image2video -------------------------------------------------------------

def _multi(body: dict[str, object]) -> object:
    from openkling.core.family_requests import MultiImage2VideoRequest
    return MultiImage2VideoRequest.model_validate(body)


@pytest.mark.parametrize("count", [1, 4])
def test_multi_image2video_takes_one_to_four_images(count: int) -> None:
    """kling-api.md: image_list[{image}], up to 4."""
    req = _multi({"prompt": "p", "image_list": [{"image": "aGk="}] * count})
    assert len(req.image_list) == count  # type: ignore[attr-defined]


@pytest.mark.parametrize(("image_list", "where"), [
    ([{"image": "aGk="}] * 5, ("image_list",)),
    ([], ("image_list",)),
    ([{"image": "  "}], ("image_list", 0, "image")),
    ([{"image": "aGk="}, {"url": "aGk="}], ("image_list", 1, "image")),
    ([{"image": 3}], ("image_list", 0, "image")),
    ("aGk=", ("image_list",)),
])
def test_multi_image2video_refuses_a_list_kling_would_refuse_naming_the_place(
        image_list: object, where: tuple[object, ...]) -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as info:
        _multi({"prompt": "p", "image_list": image_list})
    assert info.value.errors()[0]["loc"] == where


def test_multi_image2video_keeps_what_it_does_not_type() -> None:
    """A relay forwards fields of newer Kling versions; each image's other keys stay too."""
    req = _multi({"prompt": "p", "mode": "pro", "aspect_ratio": "4:3", "future": {"a": 1},
                  "image_list": [{"image": "aGk=", "note": "n"}]})
    dumped = req.model_dump(exclude_none=True)  # type: ignore[attr-defined]
    assert dumped["image_list"] == [{"image": "aGk=", "note": "n"}]
    assert dumped["future"] == {"a": 1} and dumped["aspect_ratio"] == "4:3"
