"""images/omni-image on Qwen-Image-Edit Plus: Kling's fields (kling-api.md: prompt <= 2500
characters naming images as <<<image_N>>>, image_list[{image}], element_list, resolution 1k/2k,
n 1..9, aspect_ratio of eight or auto) mapped field by field, both sides of each limit, and
every field the model cannot honour refused naming it (docs/providers.md)."""

from __future__ import annotations

from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import image_options, images_call
from openkling.providers.diffusers.omni_image import (
    omni_image_call,
    omni_image_options,
    omni_text_call,
)

IMAGES = ["w/image_list.0.image.png", "w/image_list.1.image.jpg"]
#: Kling's eight image ratios at about 1024 x 1024 pixels, sides multiples of 16 (the
#: pipeline's 8x VAE and 2x2 patches), as multi-image2image makes them.
SIZES_1K = {"16:9": (1360, 768), "9:16": (768, 1360), "1:1": (1024, 1024),
            "4:3": (1184, 880), "3:4": (880, 1184), "3:2": (1248, 832), "2:3": (832, 1248),
            "21:9": (1568, 672)}


def call(request: dict[str, Any], images: list[str] | None = None,
         first: tuple[int, int] | None = (800, 450), **options: Any) -> Any:
    return omni_image_call(
        {"model_name": "kling-image-o1", "prompt": "<<<image_1>>> in snow", **request},
        image_paths=IMAGES if images is None else images, first_size=first, seed=7,
        options=omni_image_options(options, tiny=False))


def refused(request: dict[str, Any], images: list[str] | None = None) -> str:
    with pytest.raises(KlingError) as info:
        call(request, images)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_the_default_model_is_qwen_image_edit_2509_and_the_tiny_one_with_the_tiny_models() -> None:
    default = omni_image_options({}, tiny=False)
    assert default.model == "Qwen/Qwen-Image-Edit-2509"
    assert (default.area, default.area_2k) == (1024 * 1024, 2048 * 2048)
    tiny = omni_image_options({}, tiny=True)
    assert tiny.model == "tiny-random-qwen-image-edit-plus"
    assert (tiny.area, tiny.area_2k, tiny.input_area) == (64 * 64, 128 * 128, 64 * 64)
    assert omni_image_options({"steps": 5}, tiny=True).steps == 5  # the operator wins


def test_kling_defaults_make_one_1k_picture_shaped_like_the_first_image() -> None:
    made = call({})
    assert (made.width, made.height) == SIZES_1K["16:9"]  # the first image is 800 x 450
    assert made.n == 1 and made.num_inference_steps == 40 and made.guidance_scale == 4.0
    assert made.image_paths == IMAGES and made.input_area == 1024 * 1024
    assert made.negative_prompt == " " and made.seed == 7 and made.kind == "edit"


def test_image_references_become_the_pipelines_picture_names() -> None:
    made = call({"prompt": "<<<image_2>>> wears the hat of <<<image_1>>>; <<<image_1>>> smiles"})
    assert made.prompt == "Picture 2 wears the hat of Picture 1; Picture 1 smiles"
    assert call({"prompt": "a cat, no reference"}).prompt == "a cat, no reference"


@pytest.mark.parametrize("reference", ["<<<image_0>>>", "<<<image_3>>>"])
def test_a_reference_to_an_image_not_sent_is_refused(reference: str) -> None:
    message = refused({"prompt": f"{reference} in snow"})
    assert message.startswith(f"prompt: {reference} refers to an image not sent")


def test_ten_images_may_be_named() -> None:
    ten = [f"w/image_list.{i}.image.png" for i in range(10)]
    made = call({"prompt": "<<<image_10>>> beside <<<image_1>>>"}, images=ten)
    assert made.prompt == "Picture 10 beside Picture 1" and made.image_paths == ten
    message = refused({}, images=[f"w/i{i}.png" for i in range(11)])
    assert message.startswith("image_list: takes at most 10")


def test_the_edit_model_itself_cannot_start_from_text_alone() -> None:
    message = refused({"prompt": "a cat in snow"}, images=[])
    assert message.startswith("image_list: Qwen-Image-Edit Plus needs at least one image")


#: The provider's images/generations model (SDXL by default): about 1024 x 1024 pixels at
#: 1k and 2048 x 2048 at 2k (kling-api.md's 1k/2k), sides multiples of 64.
SDXL = image_options({}, tiny=False)


def text(request: dict[str, Any]) -> Any:
    return omni_text_call({"model_name": "kling-image-o1", "prompt": "a cat in snow",
                           **request}, seed=7, options=SDXL)


def text_refused(request: dict[str, Any]) -> str:
    with pytest.raises(KlingError) as info:
        text(request)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


def test_text_alone_is_a_text_to_image_on_the_images_model() -> None:
    made = text({})
    assert made.kind == "images" and made.prompt == "a cat in snow" and made.n == 1
    assert (made.width, made.height) == (1024, 1024)  # auto: no image to follow, so 1:1
    assert made.image_path is None and made.reference_path is None and made.seed == 7
    assert made.negative_prompt == SDXL.negative_prompt  # omni-image has none of its own


@pytest.mark.parametrize(("request_", "ratio", "resolution", "n"), [
    ({"aspect_ratio": "16:9"}, "16:9", "1k", 1),
    ({"aspect_ratio": "auto", "resolution": "2k", "n": 9}, "1:1", "2k", 9),
    ({"aspect_ratio": "9:16", "resolution": "1k", "n": 2}, "9:16", "1k", 2),
])
def test_text_alone_makes_what_images_generations_makes(
        request_: dict[str, Any], ratio: str, resolution: str, n: int) -> None:
    made = text(request_)
    same = images_call(prompt="a cat in snow", negative_prompt=None, aspect_ratio=ratio,
                       resolution=resolution, n=n, image_path=None, image_fidelity=0.5, seed=7,
                       options=SDXL)
    assert made == same
    want_w, want_h = (int(part) for part in ratio.split(":"))
    assert made.width / made.height == pytest.approx(want_w / want_h, rel=0.05)
    side = 1024 if resolution == "1k" else 2048
    assert made.width * made.height == pytest.approx(side * side, rel=0.1)


@pytest.mark.parametrize(("request_", "field"), [
    ({"prompt": "<<<image_1>>> in snow"}, "prompt"),  # no image sent to name
    ({"prompt": "<<<element_1>>> in snow"}, "prompt"),
    ({"element_list": [{"element_id": 829}]}, "element_list"),
    ({"prompt": "  "}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"n": 0}, "n"),
    ({"n": 10}, "n"),
    ({"aspect_ratio": "5:4"}, "aspect_ratio"),
    ({"resolution": "4k"}, "resolution"),
    ({"negative_prompt": "blur"}, "negative_prompt"),
])
def test_text_alone_takes_klings_limits_like_the_edit(request_: dict[str, Any],
                                                      field: str) -> None:
    assert text_refused(request_).startswith(f"{field}: ")


def test_an_element_reference_or_list_is_refused() -> None:
    assert refused({"prompt": "<<<element_1>>> in snow"}).startswith("prompt: <<<element_1>>>")
    message = refused({"element_list": [{"element_id": 829}]})
    assert message.startswith("element_list: not supported by the local diffusers provider")


@pytest.mark.parametrize(("ratio", "size"), SIZES_1K.items())
def test_every_kling_image_ratio_is_honoured(ratio: str, size: tuple[int, int]) -> None:
    assert (call({"aspect_ratio": ratio}).width, call({"aspect_ratio": ratio}).height) == size


@pytest.mark.parametrize(("first", "ratio"), [((800, 450), "16:9"), ((600, 800), "3:4"),
                                              ((500, 500), "1:1"), ((630, 270), "21:9")])
def test_auto_follows_the_first_images_shape(first: tuple[int, int], ratio: str) -> None:
    made = call({"aspect_ratio": "auto"}, first=first)
    assert (made.width, made.height) == SIZES_1K[ratio]


@pytest.mark.parametrize("ratio", ["5:4", "1:2", "AUTO", "16:10", 1])
def test_other_ratios_are_refused(ratio: object) -> None:
    assert refused({"aspect_ratio": ratio}).startswith("aspect_ratio: must be one of auto, ")


def test_2k_makes_four_times_the_pixels_of_1k() -> None:
    assert (call({"resolution": "1k", "aspect_ratio": "1:1"}).width,
            call({"resolution": "1k", "aspect_ratio": "1:1"}).height) == (1024, 1024)
    square = call({"resolution": "2k", "aspect_ratio": "1:1"})
    assert (square.width, square.height) == (2048, 2048)
    wide = call({"resolution": "2k", "aspect_ratio": "16:9"})
    assert abs(wide.width * wide.height - 2048 * 2048) < 0.02 * 2048 * 2048
    assert wide.width % 16 == 0 and wide.height % 16 == 0 and wide.width > wide.height


@pytest.mark.parametrize("resolution", ["4k", "1K", "2048", 1])
def test_other_resolutions_are_refused(resolution: object) -> None:
    assert refused({"resolution": resolution}).startswith("resolution: must be one of 1k, 2k")


@pytest.mark.parametrize("n", [1, 9])
def test_n_takes_1_to_9(n: int) -> None:
    assert call({"n": n}).n == n


@pytest.mark.parametrize("n", [0, 10, True, 2.0, "2"])
def test_n_outside_1_to_9_is_refused(n: object) -> None:
    assert refused({"n": n}).startswith("n: ")


def test_the_prompt_is_required_and_at_most_2500_characters() -> None:
    assert call({"prompt": "x" * 2500}).prompt == "x" * 2500
    for prompt in (None, "", "  ", "x" * 2501, 5):
        assert refused({"prompt": prompt}).startswith("prompt: is required")


@pytest.mark.parametrize(("field", "value"), [
    ("negative_prompt", "rain"), ("image_reference", "subject"), ("image_fidelity", 0.5),
    ("cfg_scale", 0.5), ("camera_control", {"type": "simple"}),
    ("watermark_info", {"enabled": True}), ("a_future_field", "x")])
def test_fields_the_model_cannot_honour_are_refused_naming_them(field: str,
                                                                value: object) -> None:
    assert refused({field: value}).startswith(f"{field}: not supported")


def test_a_key_beside_an_image_is_refused_naming_its_path() -> None:
    message = refused({"image_list": [{}, {"weight": 2}]})
    assert message.startswith("image_list.1.weight: ")


def test_values_that_ask_for_nothing_are_accepted() -> None:
    made = call({"watermark_info": {"enabled": False}, "element_list": [], "n": None,
                 "aspect_ratio": None, "resolution": None, "negative_prompt": "",
                 "image_list": [{}, {}], "ignored_fields": [], "routed_model": "x"})
    assert made.n == 1 and (made.width, made.height) == SIZES_1K["16:9"]
