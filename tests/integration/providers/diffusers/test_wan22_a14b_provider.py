"""A Kling model name routed to the tiny Wan 2.2 A14B (two experts), rendered end to end in a
model process of its own beside the provider's tiny Wan 2.1."""

from __future__ import annotations

import pytest

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
