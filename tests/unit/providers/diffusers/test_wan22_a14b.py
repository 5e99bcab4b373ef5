"""Wan 2.2 A14B's form (two experts split at a boundary) with the tiny random model, through
the runner: both experts denoise, each its share of the steps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402
from tests.support.diffusers import probe  # noqa: E402

pytestmark = pytest.mark.slow


def test_both_experts_denoise_and_the_clip_is_encoded(tmp_path: Path) -> None:
    runner = PipelineRunner.load(
        {"model": "tiny-random-wan2.2-a14b", "pipeline": "auto", "device": "cpu",
         "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"},
        tmp_path)
    pipe = runner.pipe
    assert type(pipe).__name__ == "WanPipeline"
    assert pipe.config.boundary_ratio == 0.875 and pipe.transformer_2 is not None
    calls = {"transformer": 0, "transformer_2": 0}

    def counter(name: str) -> Any:
        def hook(*_: Any) -> None:
            calls[name] += 1
        return hook

    pipe.transformer.register_forward_hook(counter("transformer"))
    pipe.transformer_2.register_forward_hook(counter("transformer_2"))
    steps = 4
    call = {"prompt": "a fox", "negative_prompt": "", "width": 80, "height": 48,
            "num_frames": 9, "num_inference_steps": steps, "guidance_scale": 1.0, "fps": 16,
            "seed": 7, "max_sequence_length": 32}
    result = runner.generate(call, tmp_path / "v.mp4", lambda s, t: None, lambda: False)

    # Guidance 1.0: one transformer call a step; the high-noise expert takes the steps
    # whose timestep is at least 875, the other the rest: each some, together all.
    assert calls["transformer"] > 0 and calls["transformer_2"] > 0
    assert calls["transformer"] + calls["transformer_2"] == steps
    info = probe(Path(result["path"]))
    assert (info["frames"], info["size"], info["fps"]) == (9, (80, 48), 16)
