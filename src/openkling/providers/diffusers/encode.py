"""Frames (and, from a model that makes sound, a waveform) -> H.264 MP4 (yuv420p) with an
AAC track, written with PyAV; a sound alone (audio/text-to-audio) -> WAV (16-bit PCM, the
`wave` module) and MP3 (LAME, through PyAV), the two formats of Kling's audio result. Runs in
the model process."""

from __future__ import annotations

import os
import wave
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
    audio_samples: int = 0
    sample_rate: int = 0

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


def to_planar_float(audio: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A waveform as (channels, samples) float32 in [-1, 1] (LTX-2 gives (channels, samples)
    or (1, channels, samples) tensors)."""
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    array = np.asarray(audio, dtype=np.float32)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] not in (1, 2) or array.shape[1] == 0:
        raise ValueError(f"expected a mono or stereo waveform, got shape {array.shape}")
    return np.ascontiguousarray(np.clip(array, -1.0, 1.0))


def _mux_audio(container: Any, stream: Any, waveform: np.ndarray[Any, Any],
               sample_rate: int, frame_size: int = 1024) -> None:
    """Encode a planar float waveform into `stream` of `container`, `frame_size` samples a
    frame (AAC's 1024; MP3's 1152)."""
    layout = "stereo" if waveform.shape[0] == 2 else "mono"
    for start in range(0, waveform.shape[1], frame_size):
        chunk = np.ascontiguousarray(waveform[:, start:start + frame_size])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_mp4(frames: Any, path: Path, fps: int, crf: int = 18, *, audio: Any = None,
              sample_rate: int = 0) -> EncodedVideo:
    """Encode RGB frames to `path` (fast-start MP4, so a browser can play while it downloads),
    with `audio` (a waveform at `sample_rate` Hz) as an AAC track beside the video.

    Written to a temporary name and renamed, so a crash never leaves a truncated file behind.
    """
    video = to_uint8(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or len(video) == 0:
        raise ValueError(f"expected (frames, height, width, 3) RGB frames, got {video.shape}")
    waveform = to_planar_float(audio) if audio is not None else None
    if waveform is not None and sample_rate <= 0:
        raise ValueError("a waveform needs its sample rate")
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
            # Every stream is added before the first packet: muxing writes the header.
            sound = None if waveform is None else container.add_stream(
                "aac", rate=sample_rate, layout="stereo" if waveform.shape[0] == 2 else "mono")
            for rgb in video:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
            if waveform is not None:
                _mux_audio(container, sound, waveform, sample_rate)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # e.g. the disk filled up mid-write
        raise
    return EncodedVideo(path=path, frames=count, fps=fps, width=width, height=height,
                        audio_samples=0 if waveform is None else int(waveform.shape[1]),
                        sample_rate=sample_rate if waveform is not None else 0)


@dataclass(frozen=True)
class EncodedAudio:
    path: Path
    samples: int
    sample_rate: int
    channels: int

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate


def _written(path: Path, write: Any) -> None:
    """Run `write(partial_path)` and rename, so a crash never leaves a truncated file."""
    partial = path.with_name(path.name + ".partial")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_wav(audio: Any, path: Path, sample_rate: int) -> EncodedAudio:
    """A waveform ((channels, samples) floats in [-1, 1]) as 16-bit PCM WAV."""
    waveform = to_planar_float(audio)
    pcm = np.rint(waveform.T * 32767.0).astype("<i2")  # interleaved, little-endian

    def write(target: Path) -> None:
        with wave.open(str(target), "wb") as out:
            out.setnchannels(waveform.shape[0])
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(pcm.tobytes())

    _written(path, write)
    return EncodedAudio(path, int(waveform.shape[1]), sample_rate, int(waveform.shape[0]))


def write_mp3(audio: Any, path: Path, sample_rate: int, bitrate: int = 192_000) -> EncodedAudio:
    """A waveform as MP3 (LAME). LAME takes 8..48 kHz; `samples` is the waveform's length
    (the decoder trims LAME's padding by the gapless header it writes)."""
    waveform = to_planar_float(audio)
    layout = "stereo" if waveform.shape[0] == 2 else "mono"

    def write(target: Path) -> None:
        with av.open(str(target), mode="w", format="mp3") as container:
            stream = container.add_stream("libmp3lame", rate=sample_rate, layout=layout)
            stream.bit_rate = bitrate
            _mux_audio(container, stream, waveform, sample_rate, frame_size=1152)

    _written(path, write)
    return EncodedAudio(path, int(waveform.shape[1]), sample_rate, int(waveform.shape[0]))
