"""The video-extend generation (model process only): read the source MP4, condition the
loaded LTX-Video condition pipeline on its last frames, and write the source followed by the
continuation as one MP4 (see `extend.py` for the mapping).

The source is decoded twice, frame by frame, instead of held in memory (a 3-minute video is
gigabytes of frames): once for its size, rate, count and last frames, once while encoding.
"""

from __future__ import annotations

import importlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from openkling.providers.diffusers.encode import to_uint8
from openkling.providers.diffusers.extend import (
    added_frames,
    conditioning_frames,
    render_size,
)

ltx_condition: Any = importlib.import_module("diffusers.pipelines.ltx.pipeline_ltx_condition")


@dataclass(frozen=True)
class SourceVideo:
    width: int
    height: int
    fps: int
    frames: int
    last: list[np.ndarray[Any, Any]]  # the last frames asked for, RGB uint8


def _frames(path: str) -> Iterator[np.ndarray[Any, Any]]:
    with av.open(path) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def read_source(path: str, keep: int) -> SourceVideo:
    """The source's size, whole frame rate, frame count and its last `keep` frames."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise ValueError(f"{path}: the video has no frame rate")
        fps = max(1, round(float(rate)))
    last: deque[np.ndarray[Any, Any]] = deque(maxlen=keep)
    count = 0
    for rgb in _frames(path):
        last.append(rgb)
        count += 1
    if not count:
        raise ValueError(f"{path}: the video has no frames")
    height, width = last[-1].shape[:2]
    return SourceVideo(width=width, height=height, fps=fps, frames=count, last=list(last))


def write_extended(source_path: str, continuation: np.ndarray[Any, Any], out_path: Path,
                   fps: int, crf: int = 18) -> int:
    """The source's frames then `continuation` (uint8, already at the source's size) as one
    H.264 MP4 (yuv420p, fast start) like `encode.write_mp4`; returns the frame count."""
    partial = out_path.with_name(out_path.name + ".partial")
    height, width = continuation.shape[1:3]
    count = 0
    try:
        with av.open(str(partial), mode="w", format="mp4",
                     options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for rgb in (*_frames(source_path), *continuation):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode(None):
                container.mux(packet)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _resized(frames: np.ndarray[Any, Any], size: tuple[int, int]) -> np.ndarray[Any, Any]:
    from PIL import Image

    if frames.shape[2] == size[1] and frames.shape[1] == size[0]:
        return frames
    return np.stack([np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
                     for rgb in frames])


def generate_extend(pipe: Any, call: dict[str, Any], out_path: Path,
                    progress: Callable[[int, int], None], cancelled: Callable[[], bool],
                    cancel_error: type[BaseException]) -> dict[str, Any]:
    """One continuation of `call["video_path"]`, written with the source as `out_path`."""
    from PIL import Image

    temporal = int(getattr(pipe, "vae_temporal_compression_ratio", 8))
    source = read_source(str(call["video_path"]), int(call["condition_frames"]))
    cond = conditioning_frames(len(source.last), int(call["condition_frames"]), temporal)
    added = added_frames(float(call["seconds"]), source.fps, temporal)
    width, height = render_size(source.width, source.height, int(call["area"]),
                                int(call["size_multiple"]))
    total = int(call["num_inference_steps"])

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> (
            dict[str, Any]):
        progress(min(step + 1, total), total)
        if cancelled():
            raise cancel_error
        return {}

    condition = ltx_condition.LTXVideoCondition(
        video=[Image.fromarray(rgb) for rgb in source.last[-cond:]], frame_index=0)
    try:
        with torch.inference_mode():
            output = pipe(
                conditions=[condition], prompt=call["prompt"],
                negative_prompt=call["negative_prompt"] or None, width=width, height=height,
                num_frames=cond + added, frame_rate=source.fps, num_inference_steps=total,
                guidance_scale=float(call["guidance_scale"]),
                generator=torch.Generator(device="cpu").manual_seed(int(call["seed"])),
                output_type="np", callback_on_step_end=on_step_end,
                max_sequence_length=int(call["max_sequence_length"]),
            )
    except BaseException:
        pipe.maybe_free_model_hooks()
        raise
    # The first `cond` frames re-render the source's last ones: the continuation follows.
    continuation = _resized(to_uint8(output.frames[0][cond:]), (source.width, source.height))
    frames = write_extended(str(call["video_path"]), continuation, out_path, source.fps)
    return {"path": str(out_path), "frames": frames, "fps": source.fps, "width": source.width,
            "height": source.height, "source_frames": source.frames,
            "added_frames": len(continuation)}
