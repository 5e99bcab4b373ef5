"""The tiny Qwen-Image outpainting through the runner: loaded as text-to-image, made an
inpainting pipeline, `n` PNGs of the expanded canvas with the original pixels kept where the
image was placed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.families import expand_call, expand_options  # noqa: E402
from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402

pytestmark = pytest.mark.slow


def test_qwen_image_outpaints_the_padded_canvas(tmp_path: Path) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.png")
    options = expand_options({}, tiny=True)
    # Kling's ratios: a quarter of the height above and below, half the width on the left.
    call = expand_call({"up_expansion_ratio": 0.25, "down_expansion_ratio": 0.25,
                        "left_expansion_ratio": 0.5, "prompt": "sky", "n": 2},
                       image_size=(60, 40), image_path=str(tmp_path / "image.png"), seed=1,
                       options=options)
    threads = torch.get_num_threads()
    try:
        runner = PipelineRunner.load(
            {"model": options.model, "pipeline": options.pipeline, "device": "cpu",
             "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"},
            tmp_path)
        steps: list[tuple[int, int]] = []
        result = runner.generate(call.to_dict(), tmp_path / "out",
                                 lambda s, t: steps.append((s, t)), lambda: False)
    finally:
        torch.set_num_threads(threads)
    assert type(runner._inpainting()).__name__ == "QwenImageInpaintPipeline"
    assert steps[-1] == (options.steps, options.steps)
    assert (result["width"], result["height"]) == (90, 60)  # 60 x 1.5, 40 x 1.5
    assert len(result["images"]) == 2
    for name in result["images"]:
        with Image.open(name) as png:
            assert png.format == "PNG" and png.size == (90, 60)
            kept = np.asarray(png.convert("RGB"))[10:50, 30:90]
        assert np.array_equal(kept, pixels)
