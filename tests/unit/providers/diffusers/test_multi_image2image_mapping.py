"""images/multi-image2image on Qwen-Image-Edit Plus: Kling's fields (kling-api.md:
subject_image_list[{subject_image}] up to 4, scene_image, style_image, prompt, n,
aspect_ratio) mapped field by field, both sides of each limit, and every field the model
cannot honour refused naming it (docs/providers.md)."""

from __future__ import annotations

from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import (
    DEFAULT_EDIT_MODEL,
    TINY_EDIT_MODEL,
    multi_image2image_call,
    multi_image2image_options,
    subject_inputs,
)

SUBJECTS = ["w/subject_image_list.0.subject_image.png", "w/subject_image_list.1.subject_image.jpg"]


def call(request: dict[str, Any], subjects: list[str] | None = None,
         scene: str | None = None, style: str | None = None, **options: Any) -> Any:
    return multi_image2image_call(
        {"model_name": "kling-v2", "prompt": "at a picnic", **request},
        subject_paths=SUBJECTS if subjects is None else subjects, scene_path=scene,
        style_path=style, seed=7, options=multi_image2image_options(options, tiny=False))


def refused(request: dict[str, Any], subjects: list[str] | None = None) -> str:
    with pytest.raises(KlingError) as info:
        call(request, subjects)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_the_default_model_is_qwen_image_edit_2509_and_the_tiny_one_with_the_tiny_models() -> None:
    assert multi_image2image_options({}, tiny=False).model == DEFAULT_EDIT_MODEL \
        == "Qwen/Qwen-Image-Edit-2509"
    tiny = multi_image2image_options({}, tiny=True)
    assert tiny.model == TINY_EDIT_MODEL == "tiny-random-qwen-image-edit-plus"
    assert (tiny.area, tiny.input_area) == (64 * 64, 64 * 64)
    assert multi_image2image_options({"steps": 5}, tiny=True).steps == 5  # operator wins


def test_kling_defaults_make_one_16_9_picture_of_the_subjects_in_order() -> None:
    made = call({})
    assert (made.width, made.height) == (1360, 768)  # 16:9 at about 1024 x 1024, 16x sides
    assert made.n == 1 and made.num_inference_steps == 40 and made.guidance_scale == 4.0
    assert made.image_paths == SUBJECTS and made.input_area == 1024 * 1024
    assert made.prompt == "The subjects are in Picture 1, Picture 2.\nat a picnic"
    assert made.negative_prompt == " " and made.seed == 7 and made.kind == "edit"


def test_the_scene_and_the_style_follow_the_subjects_and_the_prompt_names_them() -> None:
    made = call({}, subjects=SUBJECTS[:1], scene="w/scene_image.png", style="w/style_image.png")
    assert made.image_paths == [SUBJECTS[0], "w/scene_image.png", "w/style_image.png"]
    assert made.prompt.splitlines()[0] == ("The subject is in Picture 1. Place it in the scene "
                                           "of Picture 2. Render it in the style of Picture 3.")
    only_style = call({}, style="w/style_image.png")
    assert "style of Picture 3" in only_style.prompt and "scene" not in only_style.prompt


@pytest.mark.parametrize(("ratio", "size"), [
    ("16:9", (1360, 768)), ("9:16", (768, 1360)), ("1:1", (1024, 1024)), ("4:3", (1184, 880)),
    ("3:4", (880, 1184)), ("3:2", (1248, 832)), ("2:3", (832, 1248)), ("21:9", (1568, 672))])
def test_every_kling_image_ratio_is_honoured(ratio: str, size: tuple[int, int]) -> None:
    made = call({"aspect_ratio": ratio})
    assert (made.width, made.height) == size
    assert made.width % 16 == 0 and made.height % 16 == 0


@pytest.mark.parametrize("ratio", ["5:4", "1:2", "16:10", 1])
def test_other_ratios_are_refused(ratio: object) -> None:
    assert refused({"aspect_ratio": ratio}).startswith("aspect_ratio: ")


@pytest.mark.parametrize("n", [1, 9])
def test_n_takes_1_to_9(n: int) -> None:
    assert call({"n": n}).n == n


@pytest.mark.parametrize("n", [0, 10, True, 2.0, "2"])
def test_n_outside_1_to_9_is_refused(n: object) -> None:
    assert refused({"n": n}).startswith("n: ")


def test_one_to_four_subjects_are_taken() -> None:
    assert len(call({}, subjects=SUBJECTS[:1]).image_paths) == 1
    assert len(call({}, subjects=[f"w/s{i}.png" for i in range(4)]).image_paths) == 4


@pytest.mark.parametrize("count", [0, 5])
def test_no_subject_or_more_than_four_are_refused(count: int) -> None:
    message = refused({}, subjects=[f"w/s{i}.png" for i in range(count)])
    assert message.startswith("subject_image_list: ")


def test_the_prompt_is_required_and_at_most_2500_characters() -> None:
    assert call({"prompt": "x" * 2500}).prompt.endswith("x" * 2500)
    for prompt in (None, "", "  ", "x" * 2501, 5):
        assert refused({"prompt": prompt}).startswith("prompt: ")


@pytest.mark.parametrize("field", ["negative_prompt", "resolution", "image_reference",
                                   "cfg_scale", "image_fidelity", "camera_control"])
def test_fields_the_model_cannot_honour_are_refused_naming_them(field: str) -> None:
    value: object = {"camera_control": {"type": "simple"}, "cfg_scale": 0.5,
                     "image_fidelity": 0.5}.get(field, "x")
    assert refused({field: value}).startswith(f"{field}: ")


def test_a_key_beside_a_subject_image_is_refused_naming_its_path() -> None:
    message = refused({"subject_image_list": [{}, {"weight": 2}]})
    assert message.startswith("subject_image_list.1.weight: ")


def test_values_that_ask_for_nothing_are_accepted() -> None:
    made = call({"watermark_info": {"enabled": False}, "negative_prompt": "", "n": None,
                 "aspect_ratio": None, "subject_image_list": [{}, {}],
                 "ignored_fields": [], "routed_model": "kling-v2"})
    assert made.n == 1 and (made.width, made.height) == (1360, 768)


def test_subject_inputs_are_read_in_the_clients_order() -> None:
    stored = {f"subject_image_list.{i}.subject_image": {"key": f"k{i}"} for i in (10, 2, 0)}
    stored["scene_image"] = {"key": "scene"}
    assert [name for name, _ in subject_inputs(stored)] == [
        "subject_image_list.0.subject_image", "subject_image_list.2.subject_image",
        "subject_image_list.10.subject_image"]
