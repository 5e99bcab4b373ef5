"""The model-process side of multi-elements with the tiny SAM 2 (random weights, so what is
checked is the shape of the work, not the masks' content): the element is tracked on every
frame, before and after the clicked one, at the video's size; no click is no element; the
same clicks give the same masks; the source is resampled to the model's rate by the nearest
earlier frame; a probe reads the container and writes the normalized MP4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from openkling.providers.diffusers.segment import (
    TINY_SAM2_MODEL,
    load_segmenter,
    probe,
    resample,
    track,
    write_video,
)
from tests.support.diffusers import probe as probe_mp4

FRAMES = [np.random.RandomState(i).randint(0, 255, (48, 80, 3), dtype=np.uint8)
          for i in range(9)]


def test_the_element_is_tracked_on_every_frame_at_the_video_size(tmp_path: Path) -> None:
    model = load_segmenter(TINY_SAM2_MODEL, tmp_path, torch.device("cpu"))
    assert (tmp_path / "models" / TINY_SAM2_MODEL / "config.json").is_file()
    clicks = [{"frame_index": 4, "points": [{"x": 0.5, "y": 0.5}, {"x": 0.1, "y": 0.9}]}]
    masks = track(model, FRAMES, clicks, lambda: False)
    assert masks.shape == (9, 48, 80) and masks.dtype == bool
    again = track(load_segmenter(TINY_SAM2_MODEL, None, torch.device("cpu")), FRAMES, clicks,
                  lambda: False)
    assert np.array_equal(masks, again)  # the tiny model is the same built or loaded
    assert not track(model, FRAMES, [], lambda: False).any()


def test_the_source_is_resampled_by_the_nearest_earlier_frame() -> None:
    frames = list(range(31))  # 1 s at 30 fps
    assert resample(frames, 30.0, 17, 16.0) == [int(i * 30 / 16) for i in range(17)]
    assert resample(list(range(81)), 16.0, 81, 16.0) == list(range(81))
    assert resample(list(range(5)), 16.0, 9, 16.0)[-1] == 4  # never past the last frame


def test_a_probe_reads_the_container_and_writes_the_normalized_copy(tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    write_video(FRAMES, source, 24.0)
    probed = probe({"source_path": str(source)}, tmp_path / "video.mp4")
    assert "mov" in probed["formats"].split(",")
    assert (probed["fps"], probed["frames"], probed["width"], probed["height"]) == (
        24.0, 9, 80, 48)
    assert probe_mp4(tmp_path / "video.mp4")["frames"] == 9
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    assert "error" in probe({"source_path": str(tmp_path / "junk.mp4")}, tmp_path / "x.mp4")
