"""Kling requests rendered end to end on the tiny HunyuanVideo 1.5 (text2video and
image2video) and the tiny FLUX.1 (images/generations), each in a model process of its own,
with the fields they cannot honour refused by name (400, code 1201)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.families import IMAGE2VIDEO, IMAGES
from openkling.providers.diffusers import DiffusersProvider
from tests.support.diffusers import ContextRecorder, make_spec, probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hunyuan_provider(data_dir: Path) -> Iterator[DiffusersProvider]:
    import asyncio

    provider = DiffusersProvider({"model": "tiny-random-hunyuanvideo15", "device": "cpu"},
                                 Settings(data_dir=data_dir))
    yield provider
    asyncio.run(provider.close())


async def _stored_png(recorder: ContextRecorder, key: str, size: tuple[int, int]) -> dict[
        str, object]:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 40)).save(buffer, format="PNG")
    await recorder.storage.put_bytes(key, buffer.getvalue(), "image/png")
    return {"key": key, "width": size[0], "height": size[1]}


async def test_text2video_renders_at_hunyuans_fps_and_frame_step(
    hunyuan_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    spec = make_spec("6001", model_name="kling-v2-1-master", duration=5, aspect_ratio="16:9")
    hunyuan_provider.check(spec)
    [video] = (await hunyuan_provider.run(spec, recorder.context("6001"))).videos
    info = probe(recorder.storage.path_for(video.storage_key))
    # The tiny model's 4 fps and frames 4k + 1 (5 s: 21) at its 16:9 size, 80x48.
    assert (info["frames"], info["fps"], info["size"]) == (21, 4, (80, 48))
    progress = [p for p in recorder.reports if p is not None]
    # It takes no step callback: its step bar reports each of its 2 steps, so progress
    # moves during the render, not only at the end.
    assert any(0 < p < 95 for p in progress) and progress == sorted(progress)
    assert progress[-1] == 95


async def test_image2video_runs_on_its_image_to_video_twin(
    hunyuan_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    assert hunyuan_provider.i2v.model == "tiny-random-hunyuanvideo15-i2v"
    image = await _stored_png(recorder, "inputs/6002/image.png", (480, 288))
    request = {"model_name": "kling-v2-1-master", "prompt": "leaves", "cfg_scale": 0.5,
               "mode": "std", "duration": 5, "inputs": {"image": image}}
    spec = make_spec("6002", kind=IMAGE2VIDEO, duration=5, request=request)
    hunyuan_provider.check(spec)
    [video] = (await hunyuan_provider.run(spec, recorder.context("6002"))).videos
    info = probe(recorder.storage.path_for(video.storage_key))
    # A 5:3 image at the tiny model's bucket (target size 64): 80x48; 5 s at 4 fps: 21.
    assert (info["frames"], info["fps"], info["size"]) == (21, 4, (80, 48))
    assert [p for p in recorder.reports if p is not None][-1] == 95


async def test_image2video_refuses_image_tail(
    hunyuan_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    inputs = {"image": await _stored_png(recorder, "inputs/6003/image.png", (96, 96)),
              "image_tail": await _stored_png(recorder, "inputs/6003/tail.png", (96, 96))}
    request = {"model_name": "kling-v2-1-master", "prompt": "leaves", "cfg_scale": 0.5,
               "mode": "std", "duration": 5, "inputs": inputs}
    spec = make_spec("6003", kind=IMAGE2VIDEO, duration=5, request=request)
    with pytest.raises(KlingError) as info:
        hunyuan_provider.check(spec)
    assert info.value.http_status == 400 and info.value.code == 1201
    assert info.value.message.startswith("image_tail: ")


async def test_images_render_n_pngs_on_flux(
    hunyuan_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    stored = {"model_name": "kling-v2", "prompt": "a fox", "n": 2, "aspect_ratio": "16:9",
              "resolution": "1k"}
    spec = make_spec("6004", kind=IMAGES, request=stored,
                     options={"images": {"model": "tiny-random-flux"}})
    hunyuan_provider.check(spec)
    result = await hunyuan_provider.run(spec, recorder.context("6004"))
    assert [image.index for image in result.images] == [0, 1]
    for image in result.images:
        with Image.open(recorder.storage.path_for(str(image.storage_key))) as picture:
            # 1k at the tiny 64x64 area, 16:9, sides multiples of 16: 80x48.
            assert picture.format == "PNG" and picture.size == (80, 48)
    assert [p for p in recorder.reports if p is not None][-1] == 95


def test_flux_refuses_a_negative_prompt(hunyuan_provider: DiffusersProvider) -> None:
    stored = {"model_name": "kling-v2", "prompt": "a fox", "n": 1, "aspect_ratio": "1:1",
              "resolution": "1k"}
    spec = make_spec("6005", kind=IMAGES, request=stored, negative_prompt="blur",
                     options={"images": {"model": "tiny-random-flux"}})
    with pytest.raises(KlingError) as info:
        hunyuan_provider.check(spec)
    assert info.value.http_status == 400 and info.value.code == 1201
    assert info.value.message.startswith("negative_prompt: ")
