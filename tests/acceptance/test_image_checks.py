"""Issue 20 (5): images are decoded in full and their pixel count capped at create, for every
family that takes images, base64 and URL alike. A truncated PNG used to pass the header check
and fail in the worker; an 88-megapixel PNG of a few hundred KB used to reach the model.
Both are now 400 / 1201 naming the field, and no task is created."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import PROVIDER_DOUBLE, Credentials, ServerHandle, running_server
from tests.support.images import blank_png, image_host, png, truncated_png

pytestmark = pytest.mark.slow

CAP = "image must have at most 16777216 pixels (4096x4096)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("images"), PROVIDER_DOUBLE,
                        {"OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true"}) as handle:
        yield handle


@pytest.fixture(scope="module")
def creds(server: ServerHandle) -> Credentials:
    return server.create_key("images")


# (family path, image field, other fields the create needs)
FAMILIES = [("videos/image2video", "image", {}),
            ("videos/image2video", "image_tail", {}),
            ("images/generations", "image", {"prompt": "a fox"})]
BAD = [(truncated_png(640, 360), "image cannot be decoded ("),
       (blank_png(10_000, 8_800), f"{CAP} (got 10000x8800)")]


def refused(server: ServerHandle, creds: Credentials, path: str, field: str,
            value: str, extra: dict[str, object]) -> str:
    body = {**extra, field: value}
    if path == "videos/image2video" and field == "image_tail":
        body["image"] = base64.b64encode(png(640, 360)).decode()
    response = httpx.post(f"{server.base_url}/v1/{path}", headers=creds.headers, json=body,
                          timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 1201
    return str(response.json()["message"])


@pytest.mark.parametrize(("path", "field", "extra"), FAMILIES)
@pytest.mark.parametrize(("data", "reason"), BAD)
def test_bad_images_are_refused_at_create_as_base64_and_as_url(
    server: ServerHandle, creds: Credentials, path: str, field: str,
    extra: dict[str, object], data: bytes, reason: str,
) -> None:
    value = base64.b64encode(data).decode()
    assert refused(server, creds, path, field, value, extra).startswith(f"{field}: {reason}")
    with image_host(data) as url:
        assert refused(server, creds, path, field, url, extra).startswith(f"{field}: {reason}")
    listed = httpx.get(f"{server.base_url}/v1/{path}", headers=creds.headers).json()["data"]
    assert listed == []


def test_a_whole_image_at_the_cap_is_accepted(server: ServerHandle, creds: Credentials) -> None:
    value = base64.b64encode(blank_png(4096, 4096)).decode()
    response = httpx.post(f"{server.base_url}/v1/videos/image2video", headers=creds.headers,
                          json={"image": value}, timeout=30)
    assert response.status_code == 200, response.text
