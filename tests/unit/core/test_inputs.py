"""Input images of a create: checked, stored under inputs/<task>/, removable again."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES, IMAGE2VIDEO, IMAGES
from openkling.core.family_requests import Image2VideoRequest, ImageGenerationRequest
from openkling.core.image_fetch import ImageFetcher
from openkling.core.inputs import (
    forget_images,
    image_values,
    load_images,
    place_input,
    store_images,
)
from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner


def b64(width: int, height: int, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


async def test_every_image_field_is_checked_and_stored(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, UrlSigner(b"k" * 32, "http://h", 60))
    req = Image2VideoRequest.model_validate({"image": b64(640, 360),
                                             "image_tail": b64(400, 400, "JPEG")})
    async with httpx.AsyncClient() as http:
        images = await load_images(FAMILIES[IMAGE2VIDEO], req,
                                   ImageFetcher(http, allow_private=False))
    stored = await store_images(storage, "77", images)
    assert stored == {
        "image": {"key": "inputs/77/image.png", "width": 640, "height": 360,
                  "content_type": "image/png"},
        "image_tail": {"key": "inputs/77/image_tail.jpg", "width": 400, "height": 400,
                       "content_type": "image/jpeg"},
    }
    assert await storage.read_bytes("inputs/77/image.png") == images["image"].data
    assert await storage.read_bytes("inputs/77/image_tail.jpg") == images["image_tail"].data
    await forget_images(storage, stored)
    assert not await storage.exists("inputs/77/image.png")
    assert not await storage.exists("inputs/77/image_tail.jpg")


async def test_the_first_bad_image_names_its_field(tmp_path: Path) -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "x", "image": b64(200, 400)})
    async with httpx.AsyncClient() as http:
        with pytest.raises(KlingError) as info:
            await load_images(FAMILIES[IMAGES], req, ImageFetcher(http, allow_private=False))
    assert info.value.message.startswith("image: image sides must be at least 300 px")


async def test_a_request_without_images_loads_none() -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "x"})
    async with httpx.AsyncClient() as http:
        assert await load_images(FAMILIES[IMAGES], req,
                                 ImageFetcher(http, allow_private=False)) == {}


async def test_only_the_fields_set_are_loaded_in_the_familys_order() -> None:
    req = Image2VideoRequest.model_validate({"image_tail": b64(300, 750, "JPEG")})
    async with httpx.AsyncClient() as http:
        images = await load_images(FAMILIES[IMAGE2VIDEO], req,
                                   ImageFetcher(http, allow_private=False))
    assert list(images) == ["image_tail"]
    assert (images["image_tail"].format, images["image_tail"].width) == ("JPEG", 300)
    both = Image2VideoRequest.model_validate({"image_tail": b64(300, 300),
                                              "image": b64(320, 300)})
    async with httpx.AsyncClient() as http:
        loaded = await load_images(FAMILIES[IMAGE2VIDEO], both,
                                   ImageFetcher(http, allow_private=False))
    assert [(name, image.width) for name, image in loaded.items()] == [
        ("image", 320), ("image_tail", 300)]


async def test_an_empty_or_non_text_field_is_not_an_image() -> None:
    """Only text values are images: an empty string or a non-string is not loaded."""
    req = Image2VideoRequest.model_construct(image="", image_tail=b64(300, 300))
    async with httpx.AsyncClient() as http:
        fetcher = ImageFetcher(http, allow_private=False)
        assert list(await load_images(FAMILIES[IMAGE2VIDEO], req, fetcher)) == ["image_tail"]
        odd = Image2VideoRequest.model_construct(image=["not", "text"], image_tail=None)
        assert await load_images(FAMILIES[IMAGE2VIDEO], odd, fetcher) == {}


# ----- images in a list of objects (multi-image2video's image_list[{image}]) -----------------

MULTI = FAMILIES["videos/multi-image2video"]


async def test_each_image_of_an_image_list_is_checked_and_stored_under_its_path(
        tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, UrlSigner(b"k" * 32, "http://h", 60))
    req = MULTI.request.model_validate({"prompt": "x", "image_list": [
        {"image": b64(640, 360)}, {"image": b64(400, 400, "JPEG")}]})
    async with httpx.AsyncClient() as http:
        images = await load_images(MULTI, req, ImageFetcher(http, allow_private=False))
    assert list(images) == ["image_list.0.image", "image_list.1.image"]
    stored = await store_images(storage, "78", images)
    assert stored["image_list.0.image"] == {"key": "inputs/78/image_list.0.image.png",
                                            "width": 640, "height": 360,
                                            "content_type": "image/png"}
    assert stored["image_list.1.image"]["key"] == "inputs/78/image_list.1.image.jpg"
    assert await storage.read_bytes("inputs/78/image_list.1.image.jpg") == (
        images["image_list.1.image"].data)


@pytest.mark.parametrize(("index", "bad", "rule"), [
    (1, b64(200, 400), "image sides must be at least 300 px"),
    (3, b64(300, 800), "aspect ratio"),
    (2, b64(4100, 4100), "at most 16777216 pixels"),
])
async def test_a_bad_image_of_an_image_list_names_its_place(index: int, bad: str,
                                                            rule: str) -> None:
    """Kling's rules (kling-api.md) hold for every image of the list, each named by its path."""
    images = [{"image": b64(320, 320)} for _ in range(4)]
    images[index] = {"image": bad}
    req = MULTI.request.model_validate({"prompt": "x", "image_list": images})
    async with httpx.AsyncClient() as http:
        with pytest.raises(KlingError) as info:
            await load_images(MULTI, req, ImageFetcher(http, allow_private=False))
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith(f"image_list.{index}.image: ")
    assert rule in info.value.message


async def test_an_image_of_an_image_list_over_10_mb_is_refused_naming_it() -> None:
    """kling-api.md: each image at most 10 MB (checked before it is decoded)."""
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024)).decode()
    req = MULTI.request.model_validate({"prompt": "x", "image_list": [
        {"image": b64(320, 320)}, {"image": big}]})
    async with httpx.AsyncClient() as http:
        with pytest.raises(KlingError) as info:
            await load_images(MULTI, req, ImageFetcher(http, allow_private=False))
    assert info.value.message.startswith("image_list.1.image: ")
    assert "10 MB" in info.value.message


def test_an_input_is_placed_back_where_it_was_sent_leaving_the_stored_body_alone() -> None:
    stored = {"prompt": "x", "image_list": [{"type": "subject"}, {}]}
    body = dict(stored)
    place_input(body, "image_list.1.image", "QkI=")
    place_input(body, "image_list.0.image", "QUE=")
    place_input(body, "image", "Q0M=")
    assert body == {"prompt": "x", "image": "Q0M=", "image_list": [
        {"type": "subject", "image": "QUE="}, {"image": "QkI="}]}
    assert stored == {"prompt": "x", "image_list": [{"type": "subject"}, {}]}


def test_the_stored_request_keeps_an_image_lists_objects_without_their_images() -> None:
    req = MULTI.request.model_validate({"prompt": "x", "duration": "5", "image_list": [
        {"image": b64(320, 320), "note": "kept"}, {"image": "https://example.com/a.png"}]})
    assert MULTI.normalize is not None
    stored = MULTI.normalize(req, "kling-v1-6")
    assert stored["image_list"] == [{"note": "kept"}, {}]
    assert stored["duration"] == 5 and stored["model_name"] == "kling-v1-6"
    assert image_values(MULTI, req) == {
        "image_list.0.image": req.image_list[0].image,  # type: ignore[attr-defined]
        "image_list.1.image": "https://example.com/a.png"}
