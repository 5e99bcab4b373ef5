"""The SDK's image2video, images and account.costs against a real server that generates with
the tiny random models on CPU (`--model tiny-random-wan`): real MP4s and PNGs come back."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from openkling.client import (
    AsyncKlingClient,
    AuthenticationError,
    InvalidParameterError,
    KlingClient,
    NotFoundError,
    QuotaError,
    TaskStatus,
)
from tests.conftest import TINY_WAN_ENV, Credentials, ServerHandle, running_server
from tests.support.diffusers import probe
from tests.support.images import image_host, png

from .conftest import client_kwargs

pytestmark = pytest.mark.slow

UPRIGHT = png(400, 800)  # the tiny model follows the input's shape: a video taller than wide
WAIT = 300.0


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("sdk-families"), "diffusers", {
        **TINY_WAN_ENV,
        "OPENKLING_MAX_ATTEMPTS": "1",
        "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true",
    }) as handle:
        yield handle


@pytest.fixture(scope="module")
def keys(tiny_server: ServerHandle) -> Credentials:
    return tiny_server.create_key("sdk-families")


@pytest.fixture
def sdk(tiny_server: ServerHandle, keys: Credentials) -> Iterator[KlingClient]:
    with KlingClient(**client_kwargs(tiny_server, keys)) as client:
        yield client


def test_image2video_from_a_file_create_wait_download_gives_an_mp4(
    sdk: KlingClient, tmp_path: Path
) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(UPRIGHT)
    task = sdk.image2video.create(first, "leaves fall", duration=3, model_name="kling-v2-6",
                                  external_task_id="i2v-file")
    assert task.task_status is TaskStatus.SUBMITTED and task.external_task_id == "i2v-file"
    done = sdk.image2video.wait(task, timeout=WAIT)
    assert done.task_status is TaskStatus.SUCCEED and len(done.videos) == 1
    saved = sdk.image2video.download(done, f"{tmp_path}/out/")  # a new folder
    assert saved == tmp_path / "out" / f"{task.task_id}.mp4"
    info = probe(saved)
    assert info["frames"] == 49 and info["codec"] == "h264"
    width, height = info["size"]
    assert height > width
    # The task belongs to its family: text2video does not know it (404 / 1203).
    with pytest.raises(NotFoundError) as missing:
        sdk.text2video.get(task.task_id)
    assert missing.value.code == 1203
    assert sdk.image2video.get(external_task_id="i2v-file").task_id == task.task_id


async def test_image2video_from_a_url_with_the_async_client(
    tiny_server: ServerHandle, keys: Credentials, tmp_path: Path
) -> None:
    with image_host(UPRIGHT) as url:
        async with AsyncKlingClient(**client_kwargs(tiny_server, keys)) as client:
            result = await client.image2video.generate(url, duration=3,
                                                       model_name="kling-v2-6",
                                                       path=tmp_path / "url.mp4", timeout=WAIT)
    assert result.path == tmp_path / "url.mp4"
    assert probe(result.path)["frames"] == 49


def test_an_image_the_server_refuses_names_the_field(sdk: KlingClient) -> None:
    tiny = png(100, 100)  # Kling wants sides of at least 300 px
    with pytest.raises(InvalidParameterError) as caught:
        sdk.image2video.create(tiny, "x")
    assert caught.value.code == 1201 and caught.value.message.startswith("image")
    with pytest.raises(InvalidParameterError) as caught:
        sdk.image2video.create(f"data:image/png;base64,{base64.b64encode(tiny).decode()}")
    assert caught.value.message.startswith("image")  # the prefix was dropped: a size refusal
    assert "data:" not in caught.value.message


@pytest.mark.parametrize(("aspect", "ratio"), [("9:16", 9 / 16), ("4:3", 4 / 3)])
def test_images_generate_two_pngs_of_the_asked_aspect_ratio(
    sdk: KlingClient, tmp_path: Path, aspect: str, ratio: float
) -> None:
    folder = tmp_path / "new" / "pictures"
    task = sdk.images.create("a fox in snow", n=2, aspect_ratio=aspect)
    done = sdk.images.wait(task, timeout=WAIT)
    assert [image.index for image in done.images] == [0, 1]
    paths = sdk.images.download(done, folder)
    assert paths == [folder / f"{task.task_id}_0.png", folder / f"{task.task_id}_1.png"]
    for path in paths:
        with Image.open(path) as picture:
            assert picture.format == "PNG"
            assert picture.width / picture.height == pytest.approx(ratio, rel=0.05)


def test_images_generate_in_one_call_with_a_reference_image(
    sdk: KlingClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = sdk.images.generate("a fox", image=png(400, 400), aspect_ratio="1:1",
                                 timeout=WAIT)
    assert result.paths == [tmp_path / f"{result.task.task_id}_0.png"]
    with Image.open(result.paths[0]) as picture:
        assert picture.width == picture.height
    served = httpx.get(result.task.images[0].url, timeout=30).content
    assert result.paths[0].read_bytes() == served


def test_account_costs_without_and_with_a_quota(tiny_server: ServerHandle) -> None:
    keys = tiny_server.create_key("sdk-costs")
    kwargs: dict[str, Any] = client_kwargs(tiny_server, keys)
    with KlingClient(**kwargs) as client:
        assert client.account.costs().packs == []  # unmetered

        added = tiny_server.cli("quota", "add", keys.account, "--units", "0.5",
                                "--name", "starter", "--days", "30")
        assert added.returncode == 0, added.stderr
        costs = client.account.costs()
        [pack] = costs.packs
        assert (pack.resource_pack_name, pack.total_quantity, pack.remaining_quantity,
                pack.status) == ("starter", 0.5, 0.5, "online")
        assert pack.expires is not None and pack.effective is not None
        assert client.account.costs(resource_pack_name="other").packs == []
        later = pack.invalid_time + 1  # type: ignore[operator]
        assert client.account.costs(start_time=later).packs == []

        # 0.5 units cannot pay for an image at the default price: refused as Kling does.
        with pytest.raises(QuotaError) as caught:
            client.images.create("a fox", n=9)
        assert caught.value.code == 1102
        assert client.account.costs().packs[0].remaining_quantity == 0.5

    with KlingClient(**client_kwargs(tiny_server, keys, api_key="wrong")) as stranger, \
            pytest.raises(AuthenticationError):
        stranger.account.costs()
