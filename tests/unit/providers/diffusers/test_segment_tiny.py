"""The model-process side of multi-elements with the tiny SAM 2 (random weights, so what is
checked is the shape of the work, not the masks' content): the element is tracked on every
frame, before and after the clicked one, at the video's size; no click is no element; the
same clicks give the same masks; the source is resampled to the model's rate by the nearest
earlier frame; a probe reads the container and writes the normalized MP4, streaming, with
bounded frames and size."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from openkling.providers.diffusers.segment import (
    MAX_PROBE_FRAMES,
    TINY_SAM2_MODEL,
    SegmentRunner,
    load_segmenter,
    probe,
    read_resampled,
    read_video,
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


def _gradient(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    width, height = size
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return [np.broadcast_to((ramp + 9 * i) % 256, (height, width, 3)).astype(np.uint8)
            for i in range(count)]


def test_a_probe_crops_odd_sides_and_scales_a_big_source_down(tmp_path: Path) -> None:
    """Even sides for H.264; the longer side at most 1280 px, the shape kept; the checks
    see the source's own size."""
    odd = tmp_path / "odd.mov"  # PNG frames in a MOV: odd sides, which H.264 cannot hold
    with av.open(str(odd), mode="w") as container:
        stream = container.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 81, 49, "rgb24"
        for rgb in _gradient(3, (81, 49)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    probed = probe({"source_path": str(odd)}, tmp_path / "even.mp4")
    assert (probed["source_width"], probed["source_height"]) == (81, 49)
    assert (probed["width"], probed["height"], probed["frames"]) == (80, 48, 3)
    big = tmp_path / "big.mp4"
    write_video(_gradient(3, (1600, 900)), big, 30.0)
    probed = probe({"source_path": str(big)}, tmp_path / "normalized.mp4")
    assert (probed["source_width"], probed["source_height"]) == (1600, 900)
    assert (probed["width"], probed["height"], probed["frames"]) == (1280, 720, 3)
    assert probe_mp4(tmp_path / "normalized.mp4")["size"] == (1280, 720)


def test_a_probe_stops_decoding_past_its_limits(tmp_path: Path) -> None:
    """At most MAX_PROBE_FRAMES, and one frame past `max_seconds`: a long source costs no
    more than that (its span then says it is too long)."""
    source = tmp_path / "long.mp4"
    write_video(_gradient(MAX_PROBE_FRAMES + 5, (16, 16)), source, 60.0)
    assert probe({"source_path": str(source)}, tmp_path / "a.mp4")["frames"] == MAX_PROBE_FRAMES
    write_video(_gradient(40, (16, 16)), source, 16.0)
    limited = probe({"source_path": str(source), "max_seconds": 1}, tmp_path / "b.mp4")
    assert limited["frames"] == 18  # 1 s at 16 fps spans 17 frames: one more says too long
    assert probe({"source_path": str(source), "max_seconds": 3}, tmp_path / "c.mp4")[
        "frames"] == 40


def test_a_source_over_a_limit_is_answered_from_its_header_unread(tmp_path: Path) -> None:
    source = tmp_path / "wide.mp4"
    write_video(_gradient(3, (640, 160)), source, 30.0)
    for limits in ({"max_side": 600}, {"max_fps": 24}, {"max_aspect": 3}):
        out = tmp_path / "video.mp4"
        probed = probe({"source_path": str(source), **limits}, out)
        assert (probed["frames"], probed["source_width"], probed["source_height"],
                probed["fps"]) == (0, 640, 160, 30.0)
        assert not out.exists()


def test_a_probe_error_names_no_server_path(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"<html>not a video</html>")
    probed = probe({"source_path": str(tmp_path / "junk.mp4")}, tmp_path / "x.mp4")
    assert probed == {"error": "FFmpeg cannot decode it"}


def test_the_segmenter_process_probes_without_loading_sam_2(tmp_path: Path) -> None:
    """omni-video's video to edit is probed here on hosts that may never segment."""
    runner = SegmentRunner.load({"device": "cpu", "model": "no-such/segmenter"}, tmp_path)
    source = tmp_path / "source.mp4"
    write_video(FRAMES, source, 24.0)
    probed = runner.generate({"kind": "probe", "source_path": str(source)},
                             tmp_path / "video.mp4", lambda step, total: None, lambda: False)
    assert probed["frames"] == 9 and runner._model is None


def test_reading_resampled_keeps_only_the_frames_asked_for(tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    write_video(_gradient(31, (32, 16)), source, 30.0)  # 1 s at 30 fps
    frames, fps = read_video(str(source))
    for count in (17, 40):  # 40 at 16 fps runs past the end: the last frame repeats
        got = read_resampled(str(source), count, 16.0)
        want = resample(frames, fps, count, 16.0)
        assert len(got) == count
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
