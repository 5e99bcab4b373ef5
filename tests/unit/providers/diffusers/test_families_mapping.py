"""Kling image2video and images/generations requests -> pipeline calls (pure, no torch)."""

from __future__ import annotations

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import (
    IMAGE_ASPECT_RATIOS,
    Image2VideoOptions,
    ImageOptions,
    image2video_call,
    image2video_options,
    image_options,
    images_call,
)

I2V = Image2VideoOptions()
IMAGES = ImageOptions()


def i2v(**overrides: object) -> dict[str, object]:
    args: dict[str, object] = {
        "prompt": "waves", "negative_prompt": "", "cfg_scale": 0.5, "mode": "std",
        "duration": 5, "image_size": (1920, 1080), "image_path": "/in/first.png",
        "last_image_path": None, "seed": 7, "options": I2V,
    }
    args.update(overrides)
    return args


def test_image2video_follows_the_image_shape_at_the_model_area() -> None:
    call = image2video_call(**i2v())  # type: ignore[arg-type]
    assert (call.width, call.height) == (1280, 704)  # TI2V-5B's 720p landscape frame
    assert call.num_frames == 121 and call.fps == 24  # 5 s at 24 fps, 4k + 1 frames
    upright = image2video_call(**i2v(image_size=(1080, 1920)))  # type: ignore[arg-type]
    assert (upright.width, upright.height) == (704, 1280)
    square = image2video_call(**i2v(image_size=(800, 800)))  # type: ignore[arg-type]
    assert square.width == square.height and square.width % 32 == 0


def test_image2video_mode_and_cfg_scale() -> None:
    assert image2video_call(**i2v(mode="pro")).num_inference_steps == 50  # type: ignore[arg-type]
    assert image2video_call(**i2v(cfg_scale=0.0)).guidance_scale == 1.0  # type: ignore[arg-type]
    assert image2video_call(**i2v(duration=10)).num_frames == 241  # type: ignore[arg-type]


def test_image_tail_refused_by_a_first_frame_model_and_passed_to_one_that_takes_it() -> None:
    with pytest.raises(KlingError) as info:
        image2video_call(**i2v(last_image_path="/in/last.png"))  # type: ignore[arg-type]
    assert info.value.code == 1201 and info.value.message.startswith("image_tail: ")
    flf = Image2VideoOptions(image_tail=True)
    call = image2video_call(**i2v(last_image_path="/in/last.png", options=flf))  # type: ignore[arg-type]
    assert call.last_image_path == "/in/last.png"


def images(**overrides: object) -> dict[str, object]:
    args: dict[str, object] = {
        "prompt": "a fox", "negative_prompt": None, "aspect_ratio": "1:1", "resolution": "1k",
        "n": 1, "image_path": None, "image_fidelity": 0.5, "seed": 1, "options": IMAGES,
    }
    args.update(overrides)
    return args


@pytest.mark.parametrize("ratio", list(IMAGE_ASPECT_RATIOS))
@pytest.mark.parametrize(("resolution", "side"), [("1k", 1024), ("2k", 2048)])
def test_every_kling_aspect_ratio_at_both_resolutions(ratio: str, resolution: str,
                                                      side: int) -> None:
    call = images_call(**images(aspect_ratio=ratio, resolution=resolution))  # type: ignore[arg-type]
    want_w, want_h = (int(part) for part in ratio.split(":"))
    assert call.width % 64 == 0 and call.height % 64 == 0
    assert call.width / call.height == pytest.approx(want_w / want_h, rel=0.05)
    assert call.width * call.height == pytest.approx(side * side, rel=0.1)


def test_unknown_aspect_ratio_and_resolution_are_refused_naming_the_field() -> None:
    for field, value in (("aspect_ratio", "5:4"), ("resolution", "4k")):
        with pytest.raises(KlingError) as info:
            images_call(**images(**{field: value}))  # type: ignore[arg-type]
        assert info.value.message.startswith(f"{field}: ")


def test_reference_image_becomes_image_to_image_with_strength_from_fidelity() -> None:
    assert images_call(**images()).strength is None  # type: ignore[arg-type]
    ref = images(image_path="/in/ref.png")
    assert images_call(**{**ref, "image_fidelity": 0.25}).strength == 0.75  # type: ignore[arg-type]
    assert images_call(**{**ref, "image_fidelity": 0.0}).strength == 1.0  # type: ignore[arg-type]
    # Full fidelity still runs one step rather than none.
    assert images_call(**{**ref, "image_fidelity": 1.0}).strength == 1 / 30  # type: ignore[arg-type]


SDXL = image_options({}, tiny=False)


def test_sdxl_reads_references_with_ip_adapters_plus_weights_and_flux_has_none() -> None:
    assert (SDXL.reference_adapter, SDXL.reference_subfolder, SDXL.subject_weights,
            SDXL.face_weights, SDXL.reference_image_encoder) == (
        "h94/IP-Adapter", "sdxl_models", "ip-adapter-plus_sdxl_vit-h.safetensors",
        "ip-adapter-plus-face_sdxl_vit-h.safetensors", "models/image_encoder")
    assert image_options({}, tiny=True).reference_adapter == "tiny-random-ip-adapter"
    for model in ("black-forest-labs/FLUX.1-dev", "tiny-random-flux", "tiny-random-flux2"):
        assert image_options({"model": model}, tiny=True).reference_adapter == ""
    # An operator's own adapter (or none) wins.
    assert image_options({"reference_adapter": ""}, tiny=False).reference_adapter == ""


def test_a_subject_reference_follows_the_picture_and_its_face() -> None:
    call = images_call(**images(image_path="/in/ref.png", image_reference="subject",  # type: ignore[arg-type]
                                image_fidelity=0.7, options=SDXL))
    # A reference is no starting picture: text-to-image steered by the adapter.
    assert (call.image_path, call.strength, call.reference_path) == (None, None, "/in/ref.png")
    assert call.reference_adapter is not None
    assert call.reference_adapter.weights == ("ip-adapter-plus_sdxl_vit-h.safetensors",
                                              "ip-adapter-plus-face_sdxl_vit-h.safetensors")
    assert call.reference_adapter.scales == (0.7, 0.45)  # Kling's default human_fidelity
    told = images_call(**images(image_path="/in/ref.png", image_reference="subject",  # type: ignore[arg-type]
                                human_fidelity=0.9, options=SDXL))
    assert told.reference_adapter is not None and told.reference_adapter.scales == (0.5, 0.9)
    no_face = images_call(**images(image_path="/in/ref.png", image_reference="subject",  # type: ignore[arg-type]
                                   human_fidelity=0.0, options=SDXL))
    assert no_face.reference_adapter is not None
    assert no_face.reference_adapter.weights == ("ip-adapter-plus_sdxl_vit-h.safetensors",)


def test_a_face_reference_follows_the_face_at_image_fidelity() -> None:
    call = images_call(**images(image_path="/in/ref.png", image_reference="face",  # type: ignore[arg-type]
                                image_fidelity=0.6, human_fidelity=0.9, options=SDXL))
    assert call.reference_adapter is not None
    assert call.reference_adapter.weights == ("ip-adapter-plus-face_sdxl_vit-h.safetensors",)
    assert call.reference_adapter.scales == (0.6,)
    none = images_call(**images(image_path="/in/ref.png", image_reference="face",  # type: ignore[arg-type]
                                image_fidelity=0.0, options=SDXL))
    assert none.reference_adapter is not None and none.reference_adapter.weights == ()


def test_a_reference_needs_an_image_and_a_model_with_an_adapter() -> None:
    with pytest.raises(KlingError) as info:
        images_call(**images(image_reference="face", options=SDXL))  # type: ignore[arg-type]
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith("image_reference: needs an image")
    flux = image_options({"model": "tiny-random-flux"}, tiny=True)
    with pytest.raises(KlingError) as info:
        images_call(**images(image_path="/in/ref.png", image_reference="subject",  # type: ignore[arg-type]
                             options=flux))
    assert info.value.message.startswith("image_reference: not supported by the local images "
                                         "model (tiny-random-flux)")


def test_tiny_defaults_apply_only_to_the_tiny_model_and_options_may_override() -> None:
    assert image2video_options({}, tiny=True).model == "tiny-random-wan-i2v"
    assert image2video_options({}, tiny=False).model == "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
    assert image_options({"steps": 3}, tiny=True).steps == 3
    assert image_options({}, tiny=False).model == "stabilityai/stable-diffusion-xl-base-1.0"
