"""The tiny Wan VACE through the runner on omni-video calls: the first and end frames reach
WanVACEPipeline as its conditioning video (the image on the first/last frame, kept by a black
mask; grey frames to make between), beside the reference images, and change what is made;
the MP4 has the frames and size the mapping asked for."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

from openkling.providers.diffusers.omni_video import (  # noqa: E402
    omni_video_call,
    omni_video_options,
)
from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402
from tests.support.diffusers import probe  # noqa: E402

pytestmark = pytest.mark.slow

RED, BLUE = (220, 30, 30), (30, 30, 220)


class ConditionsSpy:
    """Test double around diffusers' `WanVACEPipeline.preprocess_conditions`: records the
    conditioning it is given, then runs the real one."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.seen: list[dict[str, Any]] = []

    def __call__(self, video: Any = None, mask: Any = None, reference_images: Any = None,
                 *args: Any, **kwargs: Any) -> Any:
        self.seen.append({"video": video, "mask": mask, "reference_images": reference_images})
        return self.real(video, mask, reference_images, *args, **kwargs)


def _image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    Image.new("RGB", size, colour).save(path)
    return str(path)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Any:
    threads = torch.get_num_threads()
    loaded = PipelineRunner.load(
        {"model": "tiny-random-wan-vace", "pipeline": "auto", "device": "cpu",
         "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"},
        tmp_path_factory.mktemp("omni-tiny"))
    yield loaded
    torch.set_num_threads(threads)


def _render(runner: Any, request: dict[str, Any], images: list[tuple[str, tuple[int, int]]],
            out: Path) -> tuple[dict[str, Any], ConditionsSpy]:
    options = omni_video_options({"fps": 4}, tiny=True)  # 3 s: 13 frames, a quick test
    call = omni_video_call({"prompt": "a walk", "duration": 3, **request}, images=images,
                           seed=5, options=options)
    spy = ConditionsSpy(runner.pipe.preprocess_conditions)
    runner.pipe.preprocess_conditions = spy
    try:
        result = runner.generate(call.to_dict(), out, lambda s, t: None, lambda: False)
    finally:
        del runner.pipe.preprocess_conditions  # the class's own again
    return result, spy


def test_first_and_end_frames_reach_vace_as_its_conditioning_video(runner: Any,
                                                                    tmp_path: Path) -> None:
    first = _image(tmp_path / "first.png", (640, 360), RED)
    end = _image(tmp_path / "end.png", (640, 360), BLUE)
    ref = _image(tmp_path / "ref.png", (400, 400), (30, 200, 30))
    result, spy = _render(runner, {"image_list": [{"type": "first_frame"}, {}]},
                          [(first, (640, 360)), (ref, (400, 400))], tmp_path / "a.mp4")
    [seen] = spy.seen
    video, mask = seen["video"], seen["mask"]
    assert len(video) == len(mask) == 13  # 4 * round(3 * 4 / 4) + 1
    assert video[0].size == (80, 48)  # 16:9 (nearest to 640x360) at the tiny size
    assert np.asarray(video[0])[24, 40].tolist() == list(RED)
    assert np.asarray(video[6])[24, 40].tolist() == [128, 128, 128]
    assert np.asarray(video[12])[24, 40].tolist() == [128, 128, 128]  # no end frame
    assert [int(np.asarray(m).max()) for m in mask] == [0] + [255] * 12
    assert len(seen["reference_images"]) == 1  # the untyped image, beside the frames
    info = probe(Path(result["path"]))
    assert (info["frames"], info["size"]) == (13, (80, 48))

    _, spy = _render(runner, {"image_list": [{"type": "first_frame"}, {"type": "end_frame"}]},
                     [(first, (640, 360)), (end, (640, 360))], tmp_path / "b.mp4")
    [seen] = spy.seen
    assert np.asarray(seen["video"][12])[24, 40].tolist() == list(BLUE)
    assert [int(np.asarray(m).max()) for m in seen["mask"]] == [0] + [255] * 11 + [0]
    assert not seen["reference_images"] or seen["reference_images"] == [None]


def test_a_first_frame_changes_what_is_made(runner: Any, tmp_path: Path) -> None:
    first = _image(tmp_path / "first.png", (640, 360), RED)
    with_frame, _ = _render(runner, {"image_list": [{"type": "first_frame"}]},
                            [(first, (640, 360))], tmp_path / "with.mp4")
    without, spy = _render(runner, {}, [], tmp_path / "without.mp4")
    assert spy.seen[0]["video"] is None  # text only: no conditioning video at all
    assert Path(with_frame["path"]).read_bytes() != Path(without["path"]).read_bytes()
