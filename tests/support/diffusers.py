"""Helpers shared by the diffusers provider tests (imported by name: this folder is no package)."""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from openkling.core.models import GenerationSpec
from openkling.core.provider import TaskContext

# No model hub is reachable here: everything must load from local folders.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

TINY_OPTIONS: dict[str, Any] = {"model": "tiny-random-wan", "device": "cpu"}


def model_children(parent: int) -> list[int]:
    """The model processes of process `parent`: its children running multiprocessing's
    spawn_main."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


class StorageDouble:
    """A test double for the Storage protocol: moves files into a folder, no URL signing."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: str) -> Path:
        return self.root / key

    async def put_file(self, key: str, source: Path, content_type: str = "video/mp4") -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), target)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    async def read_bytes(self, key: str) -> bytes:
        return self.path_for(key).read_bytes()

    async def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def url_for(self, key: str) -> str:
        return self.path_for(key).as_uri()

    async def close(self) -> None:
        return None


@dataclass
class ContextRecorder:
    """Builds TaskContexts and records what the provider reported through them."""

    root: Path
    storage: StorageDouble
    reports: list[float | None] = field(default_factory=list)

    def context(self, task_id: str, *, attempt: int = 1) -> TaskContext:
        async def save_state(state: dict[str, Any]) -> None:
            return None

        async def report(percent: float | None) -> None:
            self.reports.append(percent)

        return TaskContext(
            task_id=task_id,
            attempt=attempt,
            state={},
            storage=self.storage,
            work_dir=self.root / "work" / task_id,
            save_state=save_state,
            report=report,
        )


def make_spec(task_id: str = "1001", **fields: Any) -> GenerationSpec:
    values: dict[str, Any] = {
        "task_id": task_id,
        "model_name": "kling-v1",
        "prompt": "a red fox running through snow",
        "negative_prompt": None,
        "cfg_scale": 0.5,
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": 5,
        "camera_control": None,
    }
    values.update(fields)
    return GenerationSpec(**values)


def probe(path: Path) -> dict[str, Any]:
    """What PyAV sees in an MP4: codec, pixel format, frame count, size, duration."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        rate, length, time_base = stream.average_rate, stream.duration, stream.time_base
        assert rate is not None and length is not None and time_base is not None
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "frames": frames,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "fps": float(rate),
            "duration": float(length * time_base),
        }


def decoded_audio(data: bytes) -> tuple[str, int, int, int]:
    """What PyAV decodes of a sound file: codec, sample rate, channels, samples."""
    with av.open(io.BytesIO(data)) as container:
        [stream] = container.streams.audio
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, stream.sample_rate, stream.channels, samples
