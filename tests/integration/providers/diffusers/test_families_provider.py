"""The diffusers provider's image2video, images and text-to-audio families through real model
processes
(tiny random pipelines, CPU): inputs read from storage, results stored, fields refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.families import (
    EXPAND,
    IMAGE2VIDEO,
    IMAGES,
    MULTI_ELEMENTS,
    MULTI_IMAGE2IMAGE,
    MULTI_IMAGE2VIDEO,
    OMNI_IMAGE,
    OMNI_VIDEO,
    TEXT2VIDEO,
    TEXT_TO_AUDIO,
    VIDEO_EXTEND,
)
from openkling.providers.diffusers import DiffusersProvider
from tests.support.diffusers import TINY_OPTIONS, ContextRecorder, make_spec, probe

pytestmark = pytest.mark.slow


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


async def stored_input(recorder: ContextRecorder, task_id: str, field: str, width: int,
                       height: int) -> dict[str, object]:
    key = f"inputs/{task_id}/{field}.png"
    await recorder.storage.put_bytes(key, png(width, height), "image/png")
    return {"key": key, "width": width, "height": height}


def i2v_spec(task_id: str, inputs: dict[str, object], **request: object):  # type: ignore[no-untyped-def]
    stored = {"model_name": "kling-v1", "prompt": "waves", "cfg_scale": 0.5, "mode": "std",
              "duration": 1, "inputs": inputs, **request}
    return make_spec(task_id, kind=IMAGE2VIDEO, duration=1, request=stored)


def test_the_provider_declares_what_it_honours(tiny_provider: DiffusersProvider) -> None:
    assert tiny_provider.families == {TEXT2VIDEO: frozenset(), IMAGE2VIDEO: frozenset(),
                                      IMAGES: frozenset({"image", "image_reference",
                                                         "human_fidelity"}),
                                      TEXT_TO_AUDIO: frozenset(), EXPAND: frozenset(),
                                      MULTI_IMAGE2VIDEO: frozenset(),
                                      OMNI_VIDEO: frozenset(),
                                      VIDEO_EXTEND: frozenset(),
                                      MULTI_IMAGE2IMAGE: frozenset(),
                                      OMNI_IMAGE: frozenset(),
                                      MULTI_ELEMENTS: frozenset()}
    flf = DiffusersProvider({**TINY_OPTIONS, "image2video": {"image_tail": True}},
                            tiny_provider.settings)
    assert flf.families[IMAGE2VIDEO] == frozenset({"image_tail"})
    # FLUX has no IP-Adapter: image_reference (and its human_fidelity) are refused.
    flux = DiffusersProvider({**TINY_OPTIONS, "images": {"model": "tiny-random-flux"}},
                             tiny_provider.settings)
    assert flux.families[IMAGES] == frozenset({"image"})


def test_omni_image_runs_in_multi_image2images_processes_when_both_name_one_model(
        tiny_provider: DiffusersProvider) -> None:
    """One copy of Qwen-Image-Edit Plus serves both families (docs/providers.md)."""
    one = {"image_list.0.image": {"key": "inputs/3100/image_list.0.image.png", "width": 400,
                                  "height": 400}}
    omni = make_spec("3100", kind=OMNI_IMAGE, request={"prompt": "p", "inputs": one})
    edit = make_spec("3101", kind=MULTI_IMAGE2IMAGE, request={"prompt": "p"})
    assert tiny_provider.pool_for(omni) is tiny_provider.pool_for(edit)
    assert tiny_provider.pool_for(omni).model == "tiny-random-qwen-image-edit-plus"
    other = make_spec("3102", kind=OMNI_IMAGE, request={"prompt": "p", "inputs": one},
                      options={"omni_image": {"model": "tiny-random-sdxl"}})
    assert tiny_provider.pool_for(other) is not tiny_provider.pool_for(edit)


def test_a_text_only_omni_image_runs_in_images_generations_processes(
        tiny_provider: DiffusersProvider) -> None:
    """Qwen-Image-Edit Plus cannot start from text: the images model renders it."""
    text = make_spec("3103", kind=OMNI_IMAGE, request={"prompt": "p"})
    images = make_spec("3104", kind=IMAGES, request={"prompt": "p"})
    assert tiny_provider.pool_for(text) is tiny_provider.pool_for(images)
    assert tiny_provider.pool_for(text).model == "tiny-random-sdxl"
    tiny_provider.check(text)
    with pytest.raises(KlingError) as info:  # no image to name
        tiny_provider.check(make_spec("3105", kind=OMNI_IMAGE,
                                      request={"prompt": "<<<image_1>>> in snow"}))
    assert info.value.message.startswith("prompt: <<<image_1>>> refers to an image not sent")


def test_image2video_needs_a_first_frame_locally(tiny_provider: DiffusersProvider) -> None:
    spec = i2v_spec("3000", {"image_tail": {"key": "inputs/3000/image_tail.png",
                                            "width": 400, "height": 400}})
    with pytest.raises(KlingError) as info:
        tiny_provider.check(spec)
    assert info.value.code == 1201 and info.value.message.startswith("image: ")


async def test_image2video_renders_an_mp4_shaped_like_the_image(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    spec = i2v_spec("3001", {"image": await stored_input(recorder, "3001", "image", 300, 600)})
    tiny_provider.check(spec)
    result = await tiny_provider.run(spec, recorder.context("3001"))
    [video] = result.videos
    info = probe(recorder.storage.path_for(video.storage_key or ""))
    assert info["frames"] == 17 and info["fps"] == 16
    width, height = info["size"]
    assert height > width  # the 1:2 input makes an upright video
    assert info["duration"] == pytest.approx(17 / 16, abs=1e-3)
    assert recorder.reports[0] is None and recorder.reports[-1] == 95


async def test_text_to_audio_stores_a_wav_and_an_mp3(tiny_provider: DiffusersProvider,
                                                     recorder: ContextRecorder) -> None:
    stored = {"routed_model": "kling-v1", "prompt": "thunder", "duration": 4.2}
    spec = make_spec("3004", kind=TEXT_TO_AUDIO, request=stored)
    tiny_provider.check(spec)
    result = await tiny_provider.run(spec, recorder.context("3004"))
    assert result.videos == [] and result.images == []
    [audio] = result.audios
    assert audio.durations == {"wav": pytest.approx(4.2), "mp3": pytest.approx(4.2)}
    assert audio.storage_keys == {"wav": f"audios/3004/{audio.id}.wav",
                                  "mp3": f"audios/3004/{audio.id}.mp3"}
    for key in audio.storage_keys.values():
        assert recorder.storage.path_for(key).stat().st_size > 0
    assert recorder.reports[-1] == 95


async def test_multi_image2video_stores_an_mp4_made_from_its_reference_images(
        tiny_provider: DiffusersProvider, recorder: ContextRecorder) -> None:
    inputs = {f"image_list.{i}.image": await stored_input(recorder, "3006",
                                                          f"image_list.{i}.image", *size)
              for i, size in enumerate(((400, 300), (300, 600), (320, 320)))}
    stored = {"model_name": "kling-v1-6", "prompt": "they meet", "duration": 1,
              "aspect_ratio": "1:1", "image_list": [{}, {}, {}], "inputs": inputs}
    spec = make_spec("3006", kind=MULTI_IMAGE2VIDEO, duration=1, request=stored)
    tiny_provider.check(spec)
    result = await tiny_provider.run(spec, recorder.context("3006"))
    [video] = result.videos
    assert video.storage_key == f"videos/3006/{video.id}.mp4"
    info = probe(recorder.storage.path_for(video.storage_key or ""))
    assert (info["frames"], info["fps"], info["size"]) == (17, 16, (48, 48))
    assert video.duration == pytest.approx(17 / 16)
    # Without its images the family is refused at create, naming the field.
    with pytest.raises(KlingError) as info_error:
        tiny_provider.check(make_spec("3007", kind=MULTI_IMAGE2VIDEO, request={
            "model_name": "kling-v1-6", "prompt": "they meet"}))
    assert info_error.value.message.startswith("image_list: is required")


async def test_expand_stores_n_pngs_of_the_expanded_size(
        tiny_provider: DiffusersProvider, recorder: ContextRecorder) -> None:
    # 400x300 with Kling's ratios: 400 x (1 + 0.5 + 0.5) by 300 x (1 + 0.25 + 0).
    stored = {"routed_model": "kling-v1", "prompt": "sky", "n": 2, "up_expansion_ratio": 0.25,
              "left_expansion_ratio": 0.5, "right_expansion_ratio": 0.5,
              "inputs": {"image": await stored_input(recorder, "3005", "image", 400, 300)}}
    spec = make_spec("3005", kind=EXPAND, request=stored)
    tiny_provider.check(spec)
    result = await tiny_provider.run(spec, recorder.context("3005"))
    assert result.videos == [] and [i.index for i in result.images] == [0, 1]
    for image in result.images:
        assert image.storage_key.startswith("images/3005/")
        with Image.open(recorder.storage.path_for(image.storage_key)) as png_file:
            assert png_file.format == "PNG" and png_file.size == (800, 375)


async def test_images_stores_n_pngs(tiny_provider: DiffusersProvider,
                                    recorder: ContextRecorder) -> None:
    stored = {"model_name": "kling-v1", "prompt": "a fox", "n": 2, "aspect_ratio": "2:3",
              "resolution": "1k", "image_fidelity": 0.5,
              "inputs": {"image": await stored_input(recorder, "3002", "image", 400, 400)}}
    spec = make_spec("3002", kind=IMAGES, request=stored)
    tiny_provider.check(spec)
    result = await tiny_provider.run(spec, recorder.context("3002"))
    assert result.videos == [] and [i.index for i in result.images] == [0, 1]
    for image in result.images:
        assert image.storage_key and image.storage_key.startswith("images/3002/")
        with Image.open(recorder.storage.path_for(image.storage_key)) as picture:
            assert picture.format == "PNG"
            assert picture.width / picture.height == pytest.approx(2 / 3, rel=0.05)


def test_images_refuses_an_unknown_aspect_ratio(tiny_provider: DiffusersProvider) -> None:
    spec = make_spec("3003", kind=IMAGES, request={"model_name": "kling-v1", "prompt": "x",
                                                   "aspect_ratio": "5:4"})
    with pytest.raises(KlingError, match=r"^aspect_ratio: "):
        tiny_provider.check(spec)


def test_unknown_family_is_refused(tiny_provider: DiffusersProvider) -> None:
    with pytest.raises(KlingError, match=r"^model_name: videos/effects is not supported"):
        tiny_provider.check(make_spec("3004", kind="videos/effects"))


def test_family_options_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"images\.stepz"):
        DiffusersProvider({**TINY_OPTIONS, "images": {"stepz": 1}}, Settings(data_dir=tmp_path))


async def test_a_kling_image_name_routed_to_qwen_image_stores_its_pngs(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    """`kling-v2` on the tiny Qwen-Image (a route's `images.model`), in a process of its own."""
    stored = {"model_name": "kling-v2", "prompt": "a fox", "n": 1, "aspect_ratio": "16:9",
              "resolution": "1k"}
    spec = make_spec("3010", kind=IMAGES, request=stored,
                     options={"images": {"model": "tiny-random-qwen-image"}})
    tiny_provider.check(spec)
    [image] = (await tiny_provider.run(spec, recorder.context("3010"))).images
    with Image.open(recorder.storage.path_for(str(image.storage_key))) as picture:
        assert picture.format == "PNG"
        # 1k at the tiny 128x128 area, 16:9, sides multiples of 16: 176x96.
        assert picture.size == (176, 96)


async def test_a_quantized_provider_still_renders_images_on_the_sdxl_unet(
    data_dir: Path, recorder: ContextRecorder,
) -> None:
    """`quantization` is the transformers' option: the tiny SDXL images model (a UNet, nothing
    to quantize) is loaded as it is, and its task succeeds instead of failing to load."""
    provider = DiffusersProvider({**TINY_OPTIONS, "quantization": "int8wo"},
                                 Settings(data_dir=data_dir))
    try:
        stored = {"model_name": "kling-v1", "prompt": "a fox", "n": 1, "aspect_ratio": "1:1",
                  "resolution": "1k", "image_fidelity": 0.5}
        spec = make_spec("3020", kind=IMAGES, request=stored)
        provider.check(spec)
        [image] = (await provider.run(spec, recorder.context("3020"))).images
        with Image.open(recorder.storage.path_for(str(image.storage_key))) as picture:
            assert picture.format == "PNG" and picture.width == picture.height
    finally:
        await provider.close()
