"""The tiny Qwen-Image-Edit Plus through the runner: saved and loaded like a published
checkpoint (its processor for pictures only where torchvision is missing), the pictures reach
QwenImageEditPlusPipeline and `n` PNGs of the asked size come back; a pipeline that takes
no input pictures refuses the call rather than dropping them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.families import (  # noqa: E402
    multi_image2image_call,
    multi_image2image_options,
)
from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402

pytestmark = pytest.mark.slow


def _runner(model: str, tmp_path: Path) -> PipelineRunner:
    return PipelineRunner.load(
        {"model": model, "pipeline": "auto", "device": "cpu", "dtype": "float32",
         "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"}, tmp_path)


def _pictures(tmp_path: Path) -> list[str]:
    paths = []
    for index, size in enumerate(((400, 300), (300, 600), (320, 320))):
        path = tmp_path / f"in{index}.png"
        Image.new("RGB", size, (200, 20 + 90 * index, 40)).save(path)
        paths.append(str(path))
    return paths


def test_tiny_edit_plus_makes_n_pictures_of_the_asked_ratio(tmp_path: Path) -> None:
    paths = _pictures(tmp_path)
    options = multi_image2image_options({}, tiny=True)
    call = multi_image2image_call({"prompt": "at a picnic", "n": 2, "aspect_ratio": "9:16"},
                                  subject_paths=paths[:2], scene_path=paths[2],
                                  style_path=None, seed=3, options=options)
    threads = torch.get_num_threads()
    try:
        runner = _runner(options.model, tmp_path)
        steps: list[tuple[int, int]] = []
        result = runner.generate(call.to_dict(), tmp_path / "out",
                                 lambda s, t: steps.append((s, t)), lambda: False)
    finally:
        torch.set_num_threads(threads)
    assert type(runner.pipe).__name__ == "QwenImageEditPlusPipeline"
    index = json.loads((tmp_path / "models" / options.model / "model_index.json").read_text())
    assert index["processor"] == ["transformers", "Qwen2VLProcessor"]
    assert steps[-1] == (options.steps, options.steps)
    assert (result["width"], result["height"]) == (48, 80)  # 9:16 at the tiny 64x64 area
    assert len(result["images"]) == 2
    for path in result["images"]:
        with Image.open(path) as picture:
            assert (picture.format, picture.size) == ("PNG", (48, 80))


def test_a_pipeline_without_input_pictures_refuses_them(tmp_path: Path) -> None:
    paths = _pictures(tmp_path)
    call = multi_image2image_call({"prompt": "p"}, subject_paths=paths[:1], scene_path=None,
                                  style_path=None, seed=1,
                                  options=multi_image2image_options({}, tiny=True))
    threads = torch.get_num_threads()
    try:
        runner = _runner("tiny-random-sdxl", tmp_path)  # text-to-image only
        with pytest.raises(ValueError, match="takes no input pictures"):
            runner.generate(call.to_dict(), tmp_path / "out", lambda s, t: None,
                            lambda: False)
    finally:
        torch.set_num_threads(threads)
