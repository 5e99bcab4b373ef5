"""The tiny Qwen-Image through the runner: saved, loaded, n PNGs of the aspect ratio, with
classifier-free guidance passed as Qwen-Image's `true_cfg_scale`."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.families import image_options, images_call  # noqa: E402
from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402

pytestmark = pytest.mark.slow


def test_qwen_image_writes_n_pngs_with_true_cfg(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        runner = PipelineRunner.load(
            {"model": "tiny-random-qwen-image", "pipeline": "auto", "device": "cpu",
             "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"},
            tmp_path)
        assert type(runner.pipe).__name__ == "QwenImagePipeline"
        options = image_options({"model": "tiny-random-qwen-image"}, tiny=True)
        call = images_call(prompt="a fox", negative_prompt="blur", aspect_ratio="16:9",
                           resolution="1k", n=2, image_path=None, image_fidelity=0.5, seed=1,
                           options=options)
        cls = type(runner.pipe)
        with mock.patch.object(cls, "__call__", autospec=True,
                               side_effect=cls.__call__) as called:
            result = runner.generate(call.to_dict(), tmp_path / "img", lambda s, t: None,
                                     lambda: False)
        seen = called.call_args.kwargs
    finally:
        torch.set_num_threads(threads)
    assert len(result["images"]) == 2
    for name in result["images"]:
        with Image.open(name) as png:
            assert png.format == "PNG" and png.size == (call.width, call.height)
    assert seen["true_cfg_scale"] == options.guidance and "guidance_scale" not in seen
