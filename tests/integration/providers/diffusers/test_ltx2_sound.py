"""LTX-2 (video with sound) through real model processes: the tiny random LTX-2 on a CPU.

Kling's `sound: "on"` asks for a soundtrack: with a model that makes one the MP4 carries an
AAC track beside the video; `sound: "off"` gives a silent MP4; a model without sound refuses
"on" (400/1201 naming `sound`).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.families import IMAGE2VIDEO, TEXT2VIDEO
from openkling.providers.diffusers import DiffusersProvider
from tests.support.diffusers import ContextRecorder, make_spec, probe

pytestmark = pytest.mark.slow

LTX2 = {"model": "tiny-random-ltx2", "device": "cpu"}
#: The tiny LTX-2's defaults (docs/providers.md): 64x32 at 16:9, 2 fps, frames 2k + 1, so
#: 5 s is 2 * round(5 * 2 / 2) + 1 = 11 frames.
FRAMES, FPS = 11, 2


@pytest.fixture(scope="module")
def ltx2(data_dir: Path) -> Iterator[DiffusersProvider]:
    provider = DiffusersProvider(dict(LTX2), Settings(data_dir=data_dir))
    yield provider
    asyncio.run(provider.close())


def audio_of(path: Path) -> dict[str, Any] | None:
    """The MP4's sound as PyAV decodes it: codec, rate, channels, seconds; None if silent."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return {"codec": stream.codec_context.name, "rate": stream.sample_rate,
                "channels": stream.channels, "seconds": samples / stream.sample_rate}


def test_the_provider_honours_sound_with_ltx2_and_not_with_wan(
    ltx2: DiffusersProvider, tiny_provider: DiffusersProvider,
) -> None:
    assert "sound" in ltx2.families[TEXT2VIDEO] and "sound" in ltx2.families[IMAGE2VIDEO]
    assert "sound" not in tiny_provider.families[TEXT2VIDEO]
    assert "sound" not in tiny_provider.families[IMAGE2VIDEO]


def test_a_route_to_a_model_without_sound_refuses_sound_on(ltx2: DiffusersProvider) -> None:
    spec = make_spec(options={"model": "tiny-random-wan"}, request={"sound": "on"})
    with pytest.raises(KlingError) as caught:
        ltx2.check(spec)
    assert caught.value.code == 1201 and caught.value.message.startswith("sound")
    ltx2.check(make_spec(options={"model": "tiny-random-wan"}, request={"sound": "off"}))


async def test_sound_on_muxes_an_aac_track_as_long_as_the_video(
    ltx2: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    spec = make_spec("4001", request={"sound": "on"})
    ltx2.check(spec)
    [video] = (await ltx2.run(spec, recorder.context("4001"))).videos
    path = recorder.storage.path_for(video.storage_key)
    info = probe(path)
    assert (info["frames"], info["fps"], info["size"]) == (FRAMES, FPS, (64, 32))
    sound = audio_of(path)
    assert sound is not None
    assert (sound["codec"], sound["rate"], sound["channels"]) == ("aac", 16000, 2)
    # AAC pads to whole 1024-sample frames: within one frame (64 ms) of the video's length.
    assert abs(sound["seconds"] - FRAMES / FPS) < 0.07
    progress = [p for p in recorder.reports if p is not None]
    assert progress == sorted(progress) and progress[-1] == 95


async def test_sound_off_gives_a_silent_mp4(
    ltx2: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    spec = make_spec("4002", request={"sound": "off"}, aspect_ratio="9:16")
    [video] = (await ltx2.run(spec, recorder.context("4002"))).videos
    path = recorder.storage.path_for(video.storage_key)
    assert probe(path)["size"] == (32, 64)
    assert audio_of(path) is None


async def test_image2video_with_sound(ltx2: DiffusersProvider, recorder: ContextRecorder) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (600, 300), (200, 30, 30)).save(buffer, format="PNG")
    key = "inputs/4003/image.png"
    await recorder.storage.put_bytes(key, buffer.getvalue(), "image/png")
    request = {"model_name": "kling-v2-6", "prompt": "waves", "cfg_scale": 0.5, "mode": "std",
               "duration": 5, "sound": "on",
               "inputs": {"image": {"key": key, "width": 600, "height": 300}}}
    spec = make_spec("4003", kind=IMAGE2VIDEO, request=request)
    ltx2.check(spec)
    [video] = (await ltx2.run(spec, recorder.context("4003"))).videos
    path = recorder.storage.path_for(video.storage_key)
    info = probe(path)
    # 2:1 image at the 64x32 area, sides multiples of 32.
    assert (info["frames"], info["fps"], info["size"]) == (FRAMES, FPS, (64, 32))
    sound = audio_of(path)
    assert sound is not None and sound["codec"] == "aac"
