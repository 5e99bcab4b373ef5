"""Retention finds every file a task refers to: input images and each kind of result."""

from __future__ import annotations

from openkling.core.provider import AudioOutput, GenerationResult, ImageOutput, VideoOutput
from openkling.store.retention import storage_keys


def test_retention_finds_inputs_videos_images_and_sounds() -> None:
    sound = AudioOutput(id="a1", durations={"mp3": 3, "wav": 3},
                        storage_keys={"mp3": "audios/t/a1-mp3.mp3", "wav": "audios/t/a1-wav.wav"})
    hosted = AudioOutput(id="a2", durations={"mp3": 3}, urls={"mp3": "https://cdn/a2.mp3"})
    result = GenerationResult([VideoOutput(id="v", duration=5, storage_key="videos/t/v.mp4")],
                              images=[ImageOutput(index=0, storage_key="images/t/0.png")],
                              audios=[sound, hosted]).to_record()
    request = {"inputs": {"image": {"key": "inputs/t/image.png"}}}
    assert storage_keys(request, result) == [
        "inputs/t/image.png", "videos/t/v.mp4", "images/t/0.png", "audios/t/a1-mp3.mp3",
        "audios/t/a1-wav.wav"]
