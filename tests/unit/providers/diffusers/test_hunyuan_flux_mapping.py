"""Kling fields -> HunyuanVideo 1.5 and FLUX.1 calls (docs/providers.md, the per-model
mapping): sizes at each model's native area, frames at its fps and step, guidance, and the
fields these models cannot honour refused (400, code 1201) by name."""

from __future__ import annotations

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import (
    Image2VideoCall,
    image2video_call,
    image2video_options,
    image_options,
    images_call,
)
from openkling.providers.diffusers.mapping import pipeline_call
from openkling.providers.diffusers.model_options import parse_options
from tests.support.diffusers import make_spec

HUNYUAN = "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v"
HUNYUAN_I2V = "hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v"
FLUX = "black-forest-labs/FLUX.1-dev"


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (848, 480)), ("9:16", (480, 848)),
                                             ("1:1", (624, 624))])
def test_hunyuan_sizes_are_at_its_480p_area(ratio: str, size: tuple[int, int]) -> None:
    # The pipeline's own 16:9 bucket at target size 640 (HunyuanVideo15ImageProcessor) is
    # 848x480; 1:1 is the square of about its area, floored to 16 (its own bucket: 640).
    call = pipeline_call(make_spec(aspect_ratio=ratio), parse_options({"model": HUNYUAN}))
    assert (call.width, call.height) == size


@pytest.mark.parametrize(("seconds", "frames"), [(5, 121), (10, 241)])
def test_hunyuan_duration_is_frames_at_24_fps_4k_plus_1(seconds: int, frames: int) -> None:
    call = pipeline_call(make_spec(duration=seconds), parse_options({"model": HUNYUAN}))
    assert (call.num_frames, call.fps) == (frames, 24)


@pytest.mark.parametrize(("cfg", "guidance"), [(0.0, 1.0), (0.5, 6.0), (1.0, 11.0)])
def test_hunyuan_cfg_scale_is_guidance_around_6(cfg: float, guidance: float) -> None:
    spec = make_spec(cfg_scale=cfg, negative_prompt="blur")
    for model in (HUNYUAN, "random-hunyuanvideo15"):
        call = pipeline_call(spec, parse_options({"model": model}))
        assert call.guidance_scale == pytest.approx(guidance)
        assert (call.negative_prompt, call.num_inference_steps) == ("blur", 50)


def _i2v(options: dict[str, object], last: str | None = None) -> Image2VideoCall:
    return image2video_call(
        prompt="p", negative_prompt="", cfg_scale=0.5, mode="std", duration=5,
        image_size=(1920, 1080), image_path="first.png", last_image_path=last, seed=1,
        options=image2video_options(options, tiny=False))


def test_hunyuan_image2video_maps_like_its_text2video_and_refuses_image_tail() -> None:
    call = _i2v({"model": HUNYUAN_I2V})
    # A 16:9 image at the 848x480 area, sides multiples of 16.
    assert (call.width, call.height, call.num_frames, call.fps, call.guidance_scale) == (
        848, 480, 121, 24, 6.0)
    with pytest.raises(KlingError) as info:
        _i2v({"model": HUNYUAN_I2V}, last="last.png")
    assert info.value.code == 1201 and info.value.message.startswith("image_tail: ")


@pytest.mark.parametrize(("resolution", "megapixels"), [("1k", 1.0), ("2k", 4.0)])
@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"])
def test_flux_sizes_are_about_1_and_4_megapixels(ratio: str, resolution: str,
                                                 megapixels: float) -> None:
    call = images_call(prompt="p", negative_prompt=None, aspect_ratio=ratio,
                       resolution=resolution, n=3, image_path=None, image_fidelity=0.5,
                       seed=1, options=image_options({"model": FLUX}, tiny=False))
    w, h = (int(part) for part in ratio.split(":"))
    assert call.width % 16 == 0 and call.height % 16 == 0
    assert call.width * call.height / (1024 * 1024) == pytest.approx(megapixels, rel=0.05)
    assert call.width / call.height == pytest.approx(w / h, rel=0.05)
    assert (call.n, call.num_inference_steps, call.guidance_scale) == (3, 28, 3.5)


@pytest.mark.parametrize("model", [FLUX, "black-forest-labs/FLUX.1-schnell",
                                   "random-flux.1-dev", "tiny-random-flux",
                                   "black-forest-labs/FLUX.2-dev", "tiny-random-flux2"])
def test_flux_refuses_a_negative_prompt_by_name(model: str) -> None:
    with pytest.raises(KlingError) as info:
        images_call(prompt="p", negative_prompt="blur", aspect_ratio="1:1", resolution="1k",
                    n=1, image_path=None, image_fidelity=0.5, seed=1,
                    options=image_options({"model": model}, tiny=False))
    assert info.value.code == 1201 and info.value.message.startswith("negative_prompt: ")


def test_flux_schnell_runs_4_steps_without_guidance() -> None:
    options = image_options({"model": "black-forest-labs/FLUX.1-schnell"}, tiny=False)
    assert (options.steps, options.guidance) == (4, 0.0)


def test_flux2_runs_50_steps_at_guidance_4_and_refuses_a_reference_image() -> None:
    options = image_options({"model": "black-forest-labs/FLUX.2-dev"}, tiny=False)
    call = images_call(prompt="p", negative_prompt=None, aspect_ratio="1:1", resolution="1k",
                       n=1, image_path=None, image_fidelity=0.5, seed=1, options=options)
    assert (call.width, call.height, call.num_inference_steps, call.guidance_scale) == (
        1024, 1024, 50, 4.0)
    with pytest.raises(KlingError) as info:
        images_call(prompt="p", negative_prompt=None, aspect_ratio="1:1", resolution="1k",
                    n=1, image_path="ref.png", image_fidelity=0.5, seed=1, options=options)
    assert info.value.code == 1201 and info.value.message.startswith("image: ")
