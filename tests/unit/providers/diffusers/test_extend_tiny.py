"""The tiny LTX-Video through the runner: a stored MP4 extended by its continuation. The
result is the source's frames then the continuation, at the source's size and frame rate,
the continuation conditioned on the source's last frames."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.encode import write_mp4  # noqa: E402
from openkling.providers.diffusers.extend import extend_call, extend_options  # noqa: E402
from openkling.providers.diffusers.pipeline import (  # noqa: E402
    GenerationCancelled,
    PipelineRunner,
)
from tests.support.diffusers import probe  # noqa: E402

pytestmark = pytest.mark.slow

VIDEO = "0b4a6f4e-9f7c-5d0e-8a7b-1c2d3e4f5a6b"


def request(duration: float) -> dict[str, object]:
    return {"video_id": VIDEO, "prompt": "the fox runs on",
            "input_videos": {"video_id": {"video_id": VIDEO, "task_id": "1",
                                          "duration": duration, "key": "videos/1/v.mp4"}}}


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> PipelineRunner:
    options = extend_options({}, tiny=True)
    threads = torch.get_num_threads()
    try:
        return PipelineRunner.load(
            {"model": options.model, "pipeline": options.pipeline, "device": "cpu",
             "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"},
            tmp_path_factory.mktemp("models"))
    finally:
        torch.set_num_threads(threads)


def test_the_source_then_a_five_second_continuation(runner: PipelineRunner,
                                                    tmp_path: Path) -> None:
    # What tiny-random-wan makes: 81 frames of 80x48 at 16 fps (5.06 s).
    # Smooth moving gradients, which H.264 keeps nearly exactly (noise it would not).
    y, x = np.mgrid[0:48, 0:80]
    source = np.stack([np.stack([(x * 2 + i) % 256, (y * 3 + i) % 256, (x + y) % 256], -1)
                       for i in range(81)]).astype(np.uint8)
    write_mp4(source, tmp_path / "video_id.mp4", 16)
    options = extend_options({}, tiny=True)
    call = extend_call(request(81 / 16), video_path=str(tmp_path / "video_id.mp4"), seed=3,
                       options=options)
    steps: list[tuple[int, int]] = []
    result = runner.generate(call.to_dict(), tmp_path / "out.mp4",
                             lambda s, t: steps.append((s, t)), lambda: False)
    assert type(runner.pipe).__name__ == "LTXConditionPipeline"
    assert steps[-1] == (options.std_steps, options.std_steps)
    # 5 s at 16 fps is 80 frames (whole latent frames of 8) after the source's 81.
    assert (result["source_frames"], result["added_frames"], result["frames"]) == (81, 80, 161)
    assert (result["fps"], result["width"], result["height"]) == (16, 80, 48)
    info = probe(tmp_path / "out.mp4")
    assert (info["frames"], info["fps"], info["size"]) == (161, 16.0, (80, 48))
    assert info["duration"] == pytest.approx(161 / 16, abs=0.01)  # container time base
    # The source's frames come first, as they were (re-encoded once: close, not equal).
    before, after = frames(tmp_path / "video_id.mp4"), frames(tmp_path / "out.mp4")
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(before, after[:81],
                                                                           strict=True)]
    assert max(diffs) < 3


def test_a_cancelled_extension_stops(runner: PipelineRunner, tmp_path: Path) -> None:
    write_mp4(np.zeros((17, 48, 80, 3), dtype=np.uint8), tmp_path / "video_id.mp4", 16)
    call = extend_call(request(17 / 16), video_path=str(tmp_path / "video_id.mp4"), seed=3,
                       options=extend_options({}, tiny=True))
    seen = []
    with pytest.raises(GenerationCancelled):
        runner.generate(call.to_dict(), tmp_path / "out.mp4",
                        lambda s, t: seen.append(s), lambda: bool(seen))
    assert not (tmp_path / "out.mp4").exists()
