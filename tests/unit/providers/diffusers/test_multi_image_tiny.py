"""The tiny Wan VACE through the runner: the reference images reach WanVACEPipeline and the
MP4 has the frames, rate and size the mapping asked for; a pipeline that takes no reference
images refuses the call rather than dropping them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.families import (  # noqa: E402
    multi_image2video_call,
    multi_image_options,
)
from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402
from tests.support.diffusers import probe  # noqa: E402

pytestmark = pytest.mark.slow


def _runner(model: str, tmp_path: Path) -> PipelineRunner:
    return PipelineRunner.load(
        {"model": model, "pipeline": "auto", "device": "cpu", "dtype": "float32",
         "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"}, tmp_path)


def test_tiny_vace_renders_reference_images_into_the_asked_video(tmp_path: Path) -> None:
    refs = []
    for index, size in enumerate(((400, 300), (300, 600))):
        path = tmp_path / f"image_list.{index}.image.png"
        Image.new("RGB", size, (200, 20 + 100 * index, 40)).save(path)
        refs.append(str(path))
    options = multi_image_options({"fps": 4}, tiny=True)  # 5 s: 21 frames, a quick test
    call = multi_image2video_call({"prompt": "they dance", "aspect_ratio": "1:1",
                                   "duration": 5, "mode": "std"},
                                  reference_paths=refs, seed=3, options=options)
    threads = torch.get_num_threads()
    try:
        runner = _runner(options.model, tmp_path)
        type_name = type(runner.pipe).__name__
        steps: list[tuple[int, int]] = []
        result = runner.generate(call.to_dict(), tmp_path / "out.mp4",
                                 lambda s, t: steps.append((s, t)), lambda: False)
    finally:
        torch.set_num_threads(threads)
    assert type_name == "WanVACEPipeline"
    assert "reference_images" in runner._call_params
    assert steps[-1] == (options.std_steps, options.std_steps)
    assert (result["frames"], result["fps"]) == (21, 4)  # 4 * round(5 * 4 / 4) + 1
    assert (result["width"], result["height"]) == (48, 48)  # 1:1 of the tiny 80x48 area
    info = probe(Path(result["path"]))
    assert (info["frames"], info["size"]) == (21, (48, 48))


def test_a_pipeline_without_reference_images_refuses_them(tmp_path: Path) -> None:
    path = tmp_path / "ref.png"
    Image.new("RGB", (320, 320)).save(path)
    options = multi_image_options({"fps": 4}, tiny=True)
    call = multi_image2video_call({"prompt": "p", "duration": 5}, reference_paths=[str(path)],
                                  seed=1, options=options)
    threads = torch.get_num_threads()
    try:
        runner = _runner("tiny-random-wan", tmp_path)  # text-to-video only
        with pytest.raises(ValueError, match="takes no reference images"):
            runner.generate(call.to_dict(), tmp_path / "out.mp4", lambda s, t: None,
                            lambda: False)
    finally:
        torch.set_num_threads(threads)
