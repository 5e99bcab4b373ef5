"""Frames -> H.264 MP4 (yuv420p), written with PyAV. Runs in the model process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np


@dataclass(frozen=True)
class EncodedVideo:
    path: Path
    frames: int
    fps: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def to_uint8(frames: Any) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """(frames, height, width, 3) floats in [0, 1] (a diffusers "np" output) -> uint8 RGB."""
    array: np.ndarray[Any, Any] = np.asarray(frames)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float32) * 255.0), 0, 255)
    result: np.ndarray[Any, np.dtype[np.uint8]] = array.astype(np.uint8, copy=False)
    return result


def write_mp4(frames: Any, path: Path, fps: int, crf: int = 18) -> EncodedVideo:
    """Encode RGB frames to `path` (fast-start MP4, so a browser can play while it downloads).

    Written to a temporary name and renamed, so a crash never leaves a truncated file behind.
    """
    video = to_uint8(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or len(video) == 0:
        raise ValueError(f"expected (frames, height, width, 3) RGB frames, got {video.shape}")
    count, height, width, _ = video.shape
    partial = path.with_name(path.name + ".partial")
    try:
        with av.open(str(partial), mode="w", format="mp4",
                     options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for rgb in video:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # e.g. the disk filled up mid-write
        raise
    return EncodedVideo(path=path, frames=count, fps=fps, width=width, height=height)
