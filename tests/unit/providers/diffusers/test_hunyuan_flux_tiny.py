"""The tiny HunyuanVideo 1.5 and FLUX.1 through the runner: saved, loaded, rendered to an
MP4 of the right frames, fps and size (PNGs of the right size and count); progress moves each
step; guidance reaches each where it takes it (HunyuanVideo's guider, FLUX's embedded
`guidance_scale`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.families import image_options, images_call  # noqa: E402
from openkling.providers.diffusers.pipeline import (  # noqa: E402
    GenerationCancelled,
    PipelineRunner,
)
from tests.support.diffusers import probe  # noqa: E402

pytestmark = pytest.mark.slow


def _load(model: str, folder: Path) -> PipelineRunner:
    return PipelineRunner.load(
        {"model": model, "pipeline": "auto", "device": "cpu", "dtype": "float32",
         "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"}, folder)


@pytest.fixture(scope="module")
def hunyuan(tmp_path_factory: pytest.TempPathFactory) -> PipelineRunner:
    return _load("tiny-random-hunyuanvideo15", tmp_path_factory.mktemp("hy"))


def _video_call(**fields: Any) -> dict[str, Any]:
    return {"prompt": "a fox", "negative_prompt": "blur", "width": 80, "height": 48,
            "num_frames": 9, "num_inference_steps": 3, "guidance_scale": 6.0, "fps": 4,
            "seed": 7, "max_sequence_length": 64, **fields}


def test_hunyuan_renders_the_frames_with_progress_each_step(hunyuan: PipelineRunner,
                                                            tmp_path: Path) -> None:
    assert type(hunyuan.pipe).__name__ == "HunyuanVideo15Pipeline"
    reports: list[tuple[int, int]] = []
    result = hunyuan.generate(_video_call(), tmp_path / "v.mp4",
                              lambda step, total: reports.append((step, total)), lambda: False)
    assert reports == [(1, 3), (2, 3), (3, 3)]
    info = probe(Path(result["path"]))
    assert (info["frames"], info["size"], info["fps"]) == (9, (80, 48), 4)
    # The guider took the call's guidance (two passes a step: with and without the prompt).
    assert hunyuan.pipe.guider.guidance_scale == 6.0 and hunyuan.pipe.guider._enabled


def test_hunyuan_guidance_1_turns_the_unconditional_pass_off(hunyuan: PipelineRunner,
                                                             tmp_path: Path) -> None:
    calls = []
    handle = hunyuan.pipe.transformer.register_forward_hook(lambda *_: calls.append(1))
    try:
        hunyuan.generate(_video_call(guidance_scale=1.0, num_inference_steps=2),
                         tmp_path / "v.mp4", lambda s, t: None, lambda: False)
    finally:
        handle.remove()
    assert len(calls) == 2  # one transformer pass a step


def test_hunyuan_stops_at_the_next_step_when_cancelled(hunyuan: PipelineRunner,
                                                       tmp_path: Path) -> None:
    reports: list[int] = []
    with pytest.raises(GenerationCancelled):
        hunyuan.generate(_video_call(), tmp_path / "v.mp4",
                         lambda step, total: reports.append(step), lambda: bool(reports))
    assert reports == [1]
    # The class's own progress bar is back for the next call.
    assert "progress_bar" not in vars(hunyuan.pipe)


def test_hunyuan_image2video_starts_from_the_image(tmp_path: Path) -> None:
    runner = _load("tiny-random-hunyuanvideo15-i2v", tmp_path)
    assert type(runner.pipe).__name__ == "HunyuanVideo15ImageToVideoPipeline"
    Image.new("RGB", (160, 96), (200, 30, 30)).save(tmp_path / "first.png")
    reports: list[int] = []
    result = runner.generate(_video_call(image_path=str(tmp_path / "first.png")),
                             tmp_path / "v.mp4", lambda step, total: reports.append(step),
                             lambda: False)
    info = probe(Path(result["path"]))
    # The pipeline sizes the video itself: the image's 5:3 at its bucket of target size 64.
    assert (info["frames"], info["size"], info["fps"]) == (9, (80, 48), 4)
    assert reports == [1, 2, 3]


@pytest.fixture(scope="module")
def flux(tmp_path_factory: pytest.TempPathFactory) -> PipelineRunner:
    return _load("tiny-random-flux", tmp_path_factory.mktemp("flux"))


@pytest.mark.parametrize(("model", "pipeline", "ratio", "size", "guidance"), [
    # 16:9 and 9:16 at the tiny 64x64 area, sides multiples of 16: 80x48 and 48x80.
    ("tiny-random-flux", "FluxPipeline", "16:9", (80, 48), 3.5),
    ("tiny-random-flux2", "Flux2Pipeline", "9:16", (48, 80), 4.0),
])
def test_flux_writes_n_pngs_with_embedded_guidance(
    model: str, pipeline: str, ratio: str, size: tuple[int, int], guidance: float,
    flux: PipelineRunner, tmp_path: Path,
) -> None:
    runner = flux if model == "tiny-random-flux" else _load(model, tmp_path)
    assert type(runner.pipe).__name__ == pipeline
    options = image_options({"model": model}, tiny=True)
    call = images_call(prompt="a fox", negative_prompt=None, aspect_ratio=ratio,
                       resolution="1k", n=2, image_path=None, image_fidelity=0.5, seed=1,
                       options=options)
    assert (call.width, call.height) == size
    reports: list[int] = []
    cls = type(runner.pipe)
    with mock.patch.object(cls, "__call__", autospec=True,
                           side_effect=cls.__call__) as called:
        result = runner.generate(call.to_dict(), tmp_path / "img",
                                 lambda step, total: reports.append(step), lambda: False)
    seen = called.call_args.kwargs
    assert len(result["images"]) == 2
    for name in result["images"]:
        with Image.open(name) as png:
            assert png.format == "PNG" and png.size == size
    # FLUX's guidance is an input of its transformer, not true classifier-free guidance;
    # neither takes a negative prompt (FLUX.2's pipeline has no such argument).
    assert seen["guidance_scale"] == guidance and "true_cfg_scale" not in seen
    assert not seen.get("negative_prompt")
    assert reports == [1, 2]


def test_flux_reference_image_runs_image_to_image(flux: PipelineRunner,
                                                  tmp_path: Path) -> None:
    Image.new("RGB", (200, 200), (10, 90, 200)).save(tmp_path / "ref.png")
    options = image_options({"model": "tiny-random-flux", "steps": 4}, tiny=True)
    call = images_call(prompt="a fox", negative_prompt=None, aspect_ratio="1:1",
                       resolution="2k", n=1, image_path=str(tmp_path / "ref.png"),
                       image_fidelity=0.5, seed=1, options=options)
    reports: list[int] = []
    result = flux.generate(call.to_dict(), tmp_path / "img",
                           lambda step, total: reports.append(step), lambda: False)
    assert type(flux._img2img).__name__ == "FluxImg2ImgPipeline"
    [name] = result["images"]
    with Image.open(name) as png:
        assert png.size == (128, 128)
    assert reports == [1, 2]  # strength 0.5 of 4 steps


def test_a_last_frame_is_never_dropped_unseen(tmp_path: Path) -> None:
    """image2video.image_tail = true on HunyuanVideo 1.5 (no last frame): the task fails."""
    runner = _load("tiny-random-hunyuanvideo15-i2v", tmp_path)
    Image.new("RGB", (160, 96), (200, 30, 30)).save(tmp_path / "first.png")
    with pytest.raises(ValueError, match="takes no last frame"):
        runner.generate(_video_call(image_path=str(tmp_path / "first.png"),
                                    last_image_path=str(tmp_path / "first.png")),
                        tmp_path / "v.mp4", lambda s, t: None, lambda: False)


def test_flux_renders_in_bfloat16_with_vae_fp32_on(tmp_path: Path) -> None:
    """The GPU's defaults (bfloat16, vae_fp32): FLUX's pipeline hands the VAE bfloat16
    latents, so its VAE keeps the model's dtype rather than failing on a dtype mismatch."""
    runner = PipelineRunner.load(
        {"model": "tiny-random-flux", "pipeline": "auto", "device": "cpu",
         "dtype": "bfloat16", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "none"},
        tmp_path)
    assert runner.pipe.vae.dtype == torch.bfloat16
    call = {"kind": "images", "prompt": "a fox", "negative_prompt": "", "width": 64,
            "height": 64, "n": 1, "num_inference_steps": 2, "guidance_scale": 3.5, "seed": 1}
    [name] = runner.generate(call, tmp_path / "img", lambda s, t: None, lambda: False)["images"]
    with Image.open(name) as png:
        assert png.size == (64, 64)
