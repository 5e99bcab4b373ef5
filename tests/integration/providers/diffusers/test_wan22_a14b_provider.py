"""A Kling model name routed to the tiny Wan 2.2 A14B (two experts), rendered end to end in a
model process of its own beside the provider's tiny Wan 2.1."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from openkling.config import Settings
from openkling.core.families import IMAGE2VIDEO
from openkling.providers.diffusers import DiffusersProvider
from tests.support.diffusers import ContextRecorder, make_spec, probe

pytestmark = pytest.mark.slow


async def test_kling_v2_1_master_renders_on_wan22_a14b(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    spec = make_spec("5001", model_name="kling-v2-1-master", duration=5, aspect_ratio="1:1",
                     options={"model": "tiny-random-wan2.2-a14b"})
    tiny_provider.check(spec)
    [video] = (await tiny_provider.run(spec, recorder.context("5001"))).videos
    info = probe(recorder.storage.path_for(video.storage_key))
    # Wan's 16 fps and 4k + 1 frames (5 s: 81), the tiny size 80x48 -> 1:1 is 48x48.
    assert (info["frames"], info["fps"], info["size"]) == (81, 16, (48, 48))
    progress = [p for p in recorder.reports if p is not None]
    assert progress[-1] == 95


async def test_image2video_runs_on_the_two_expert_i2v_form(
    data_dir: Path, recorder: ContextRecorder,
) -> None:
    """With the tiny A14B as model, image2video gets its tiny I2V A14B twin."""
    provider = DiffusersProvider({"model": "tiny-random-wan2.2-a14b", "device": "cpu"},
                                 Settings(data_dir=data_dir))
    try:
        assert provider.i2v.model == "tiny-random-wan2.2-a14b-i2v"
        buffer = io.BytesIO()
        Image.new("RGB", (480, 288), (20, 120, 40)).save(buffer, format="PNG")
        key = "inputs/5002/image.png"
        await recorder.storage.put_bytes(key, buffer.getvalue(), "image/png")
        request = {"model_name": "kling-v2-1-master", "prompt": "leaves", "cfg_scale": 0.5,
                   "mode": "std", "duration": 1,
                   "inputs": {"image": {"key": key, "width": 480, "height": 288}}}
        spec = make_spec("5002", kind=IMAGE2VIDEO, duration=1, request=request)
        provider.check(spec)
        [video] = (await provider.run(spec, recorder.context("5002"))).videos
        info = probe(recorder.storage.path_for(video.storage_key))
        # 5:3 image at the tiny 80x48 area (sides multiples of 16): 80x48; 1 s at 16 fps is
        # 4 * round(16 / 4) + 1 = 17 frames.
        assert (info["frames"], info["fps"], info["size"]) == (17, 16, (80, 48))
    finally:
        await provider.close()
