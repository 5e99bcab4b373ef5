"""How image arguments become Kling's wire strings: files and bytes as raw base64 (no `data:`
prefix, as Kling requires), http(s) URLs as they are, anything else refused naming the field
before a request is sent."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkling.client import MAX_IMAGE_BYTES, InvalidParameterError, KlingClient
from openkling.client._inputs import encode_image

from .doubles import RecordingServerDouble

#: Enough bytes to stand for an image; the server, not the client, judges the content.
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
ENCODED = base64.b64encode(PICTURE).decode("ascii")


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "first.png"
    path.write_bytes(PICTURE)
    return path


@pytest.fixture
def server() -> RecordingServerDouble:
    return RecordingServerDouble()


@pytest.fixture
def client(server: RecordingServerDouble) -> Iterator[KlingClient]:
    with KlingClient(base_url="http://127.0.0.1:1", api_key="k", transport=server) as sdk:
        yield sdk


def test_a_file_by_path_string_or_path_is_raw_base64(picture: Path) -> None:
    assert encode_image("image", str(picture)) == ENCODED
    assert encode_image("image", picture) == ENCODED
    assert not ENCODED.startswith("data:")


def test_bytes_of_any_kind_are_raw_base64() -> None:
    for value in (PICTURE, bytearray(PICTURE), memoryview(PICTURE)):
        assert base64.b64decode(encode_image("image", value) or "") == PICTURE


def test_http_urls_are_sent_as_they_are() -> None:
    for url in ("https://cdn.example/cat.png?sig=a+b", "http://127.0.0.1:9/x.jpg",
                "HTTPS://EXAMPLE.COM/UPPER.PNG"):
        assert encode_image("image", url) == url


def test_base64_is_kept_and_a_data_url_loses_its_prefix() -> None:
    assert encode_image("image", ENCODED) == ENCODED
    wrapped = "\n".join(ENCODED[i:i + 76] for i in range(0, len(ENCODED), 76))
    assert encode_image("image", wrapped) == ENCODED
    assert encode_image("image_tail", f"data:image/png;base64,{ENCODED}") == ENCODED


def test_none_is_not_sent() -> None:
    assert encode_image("image", None) is None


@pytest.mark.parametrize(("value", "words"), [
    ("missing.png", "no such file: 'missing.png'"),
    ("", "must not be empty"),
    ("ftp://example.com/cat.png", "only http:// and https://"),
    ("data:image/png;base64,@@@@", "not valid base64"),
    (b"", "the image bytes is empty"),
])
def test_unusable_values_are_refused_naming_the_field(value: str | bytes, words: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        encode_image("image_tail", value)
    assert caught.value.message.startswith("image_tail: ") and words in caught.value.message
    assert caught.value.code == 1201


def test_a_missing_path_object_a_folder_and_an_empty_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    for path, words in ((tmp_path / "gone.png", "no such file"),
                        (tmp_path, "is a folder"),
                        (tmp_path / "empty.png", "is empty")):
        with pytest.raises(InvalidParameterError, match=words):
            encode_image("image", path)
        with pytest.raises(InvalidParameterError, match=words):
            encode_image("image", f"{path}/" if path == tmp_path else str(path))


def test_a_file_over_kling_s_10_mb_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as handle:  # sparse: no 10 MB written
        handle.truncate(MAX_IMAGE_BYTES + 1)
    with pytest.raises(InvalidParameterError, match="at most 10 MB"):
        encode_image("image", big)
    with big.open("wb") as handle:
        handle.truncate(MAX_IMAGE_BYTES)
    assert encode_image("image", big) is not None  # exactly 10 MB is allowed


def test_image2video_create_sends_the_file_as_base64_and_the_tail_url_as_is(
    client: KlingClient, server: RecordingServerDouble, picture: Path
) -> None:
    task = client.image2video.create(picture, "leaves fall", image_tail="https://x.test/t.png",
                                     duration=5, mode="pro", cfg_scale=0.3,
                                     external_task_id="i2v-1")
    assert task.task_id == "1"
    [request] = server.requests
    assert (request.method, request.url.path) == ("POST", "/v1/videos/image2video")
    assert server.body == {"image": ENCODED, "image_tail": "https://x.test/t.png",
                           "prompt": "leaves fall", "duration": "5", "mode": "pro",
                           "cfg_scale": 0.3, "external_task_id": "i2v-1"}


def test_image2video_with_bytes_and_no_prompt_sends_only_the_image(
    client: KlingClient, server: RecordingServerDouble
) -> None:
    client.image2video.create(image=PICTURE)
    assert server.body == {"image": ENCODED}


def test_a_missing_file_is_refused_before_any_request(
    client: KlingClient, server: RecordingServerDouble, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameterError, match="image: no such file"):
        client.image2video.create(str(tmp_path / "nope.jpg"), "x")
    with pytest.raises(InvalidParameterError, match="image: no such file"):
        client.images.create("a fox", image=tmp_path / "nope.jpg")
    assert server.requests == []


def test_images_create_sends_kling_s_fields(
    client: KlingClient, server: RecordingServerDouble, picture: Path
) -> None:
    client.images.create("a fox", n=4, aspect_ratio="21:9", resolution="2k", image=picture,
                         image_reference="subject", image_fidelity=0.7, model_name="kling-v2")
    [request] = server.requests
    assert request.url.path == "/v1/images/generations"
    assert server.body == {"prompt": "a fox", "n": 4, "aspect_ratio": "21:9",
                           "resolution": "2k", "image": ENCODED, "image_reference": "subject",
                           "image_fidelity": 0.7, "model_name": "kling-v2"}


@pytest.mark.parametrize("fields", [{"aspect_ratio": "5:4"}, {"resolution": "4k"},
                                    {"image_reference": "pose"}])
def test_images_enums_are_checked_before_any_request(
    client: KlingClient, server: RecordingServerDouble, fields: dict[str, str]
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        client.images.create("a fox", **fields)  # type: ignore[arg-type]
    assert next(iter(fields)) in caught.value.message
    assert server.requests == []


def test_the_gateway_prefix_applies_to_every_family() -> None:
    server = RecordingServerDouble(by_path={
        "/kling/v1/videos/image2video": [],
        "/kling/v1/account/costs": {"code": 0, "msg": "", "resource_pack_subscribe_infos": []},
    })
    with KlingClient(base_url="http://127.0.0.1:1", prefix="kling", api_key="k",
                     transport=server) as gateway:
        gateway.images.get("7")
        gateway.image2video.list(2, 5)
        gateway.account.costs()
    assert [(r.url.path, dict(r.url.params)) for r in server.requests] == [
        ("/kling/v1/images/generations/7", {}),
        ("/kling/v1/videos/image2video", {"pageNum": "2", "pageSize": "5"}),
        ("/kling/v1/account/costs", {}),
    ]
