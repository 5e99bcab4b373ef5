"""Every family through a real server (provider double): routes on both prefixes, family
scoping, image inputs, image results, /account/costs, quotas, auth before 404."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from tests.conftest import (
    PROVIDER_DOUBLE,
    SHARED_ENV,
    Credentials,
    ServerHandle,
    running_server,
    wait_for_status,
)
from tests.doubles.receiver import CallbackReceiverDouble


def b64(width: int = 640, height: int = 360, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (220, 120, 20)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("families"), PROVIDER_DOUBLE,
                        dict(SHARED_ENV)) as handle:
        yield handle


@pytest.fixture(scope="module")
def alice(server: ServerHandle) -> Credentials:
    return server.create_key("alice")


@pytest.fixture
async def http(server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: int, starts: str = "") -> str:
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert body["data"] is None and body["message"].startswith(starts), body
    return str(body["message"])


async def test_image2video_on_both_prefixes_and_scoped_to_its_family(
    http: httpx.AsyncClient, alice: Credentials,
) -> None:
    created = await http.post("/kling/v1/videos/image2video", headers=alice.headers,
                              json={"image": b64(), "prompt": "waves", "external_task_id": "i1"})
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert data["task_status"] == "submitted" and data["task_info"] == {"external_task_id": "i1"}
    task_id = data["task_id"]
    done = await wait_for_status(http, f"/v1/videos/image2video/{task_id}", alice.headers,
                                 {"succeed", "failed"})
    assert done["task_status"] == "succeed"
    assert done["task_result"]["videos"][0]["duration"] == "1.1"  # type: ignore[index]
    for path in (f"/v1/videos/image2video/{task_id}", "/kling/v1/videos/image2video/i1",
                 "/v1/videos/image2video?external_task_id=i1"):
        got = await http.get(path, headers=alice.headers)
        assert got.status_code == 200 and got.json()["data"]["task_id"] == task_id, path
    listed = (await http.get("/v1/videos/image2video", headers=alice.headers)).json()["data"]
    assert task_id in [t["task_id"] for t in listed]
    others = (await http.get("/v1/videos/text2video", headers=alice.headers)).json()["data"]
    assert task_id not in [t["task_id"] for t in others]
    for path in (f"/v1/videos/text2video/{task_id}", f"/kling/v1/images/generations/{task_id}",
                 "/v1/videos/text2video/i1", "/v1/videos/text2video?external_task_id=i1"):
        assert_error(await http.get(path, headers=alice.headers), 404, 1203)
    # The same external id may name a task of another family.
    again = await http.post("/v1/videos/text2video", headers=alice.headers,
                            json={"prompt": "x", "external_task_id": "i1"})
    assert again.status_code == 200


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"image": "data:image/png;base64," + b64()}, "image", "without the 'data:"),
    ({"image": b64(299, 400)}, "image", "at least 300 px"),
    ({"image": b64(900, 300)}, "image", "1:2.5 and 2.5:1"),
    ({"image": b64(400, 400, "GIF")}, "image", "JPEG or PNG"),
    ({"image_tail": "bm90IGFuIGltYWdl"}, "image_tail", "not a JPEG or PNG"),
    ({"prompt": "no image"}, "image", "at least one of image and image_tail"),
    ({"image": b64(), "image_tail": b64(), "camera_control": {"type": "down_back"}},
     "image_tail", "cannot be combined with camera_control"),
    ({"image": "http://127.0.0.1:9/cat.png"}, "image", "host '127.0.0.1' resolves to a private"),
    ({"image": b64(), "duration": "7"}, "duration", "kling-v1 accepts"),
])
async def test_image2video_validation(http: httpx.AsyncClient, alice: Credentials,
                                      body: dict[str, object], field: str, words: str) -> None:
    message = assert_error(await http.post("/v1/videos/image2video", headers=alice.headers,
                                           json=body), 400, 1201, f"{field}: ")
    assert words in message


async def test_images_generations_returns_pngs(http: httpx.AsyncClient,
                                               alice: Credentials) -> None:
    created = await http.post("/v1/images/generations", headers=alice.headers,
                              json={"prompt": "a fox", "n": 3, "aspect_ratio": "21:9",
                                    "image": b64(512, 512, "JPEG")})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/kling/v1/images/generations/{task_id}",
                                 alice.headers, {"succeed", "failed"})
    assert done["task_status"] == "succeed"
    images = done["task_result"]["images"]  # type: ignore[index]
    assert [image["index"] for image in images] == [0, 1, 2]
    assert "videos" not in done["task_result"]  # type: ignore[operator]
    picture = await http.get(images[0]["url"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).format == "PNG"


@pytest.mark.parametrize(("body", "field"), [
    ({"prompt": "x", "n": 10}, "n"), ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "n": "2"}, "n"), ({"prompt": "x", "n": " 2"}, "n"),
    ({"prompt": "x", "n": 2.0}, "n"), ({"prompt": "x", "n": True}, "n"),
    ({"prompt": "x", "aspect_ratio": "5:4"}, "aspect_ratio"),
    ({"prompt": "x", "resolution": "4k"}, "resolution"),
    ({"prompt": ""}, "prompt"), ({"prompt": "x", "image_fidelity": 1.5}, "image_fidelity"),
])
async def test_images_validation(http: httpx.AsyncClient, alice: Credentials,
                                 body: dict[str, object], field: str) -> None:
    assert_error(await http.post("/v1/images/generations", headers=alice.headers, json=body),
                 400, 1201, f"{field}: ")


async def test_a_family_no_provider_serves_is_refused_at_create(http: httpx.AsyncClient,
                                                                alice: Credentials) -> None:
    response = await http.post("/kling/v1/videos/effects", headers=alice.headers,
                               json={"effect_scene": "hug", "input": {}})
    message = assert_error(response, 400, 1201, "videos/effects: ")
    assert message == ("videos/effects: not served by the provider "
                       "'tests.doubles.provider:ProviderDouble' of this server; the relay "
                       "provider 'kling' serves it (a relay to Kling; see docs/relay.md)")
    # Its query and list routes exist (and find nothing).
    assert_error(await http.get("/v1/videos/effects/123", headers=alice.headers), 404, 1203)
    listed = await http.get("/v1/videos/effects", headers=alice.headers)
    assert listed.status_code == 200 and listed.json()["data"] == []


async def test_every_route_authenticates_before_404(http: httpx.AsyncClient,
                                                    alice: Credentials) -> None:
    bad = {"Authorization": "Bearer ok-not-a-real-key"}
    for method, path in (("GET", "/v1/account/costs"), ("GET", "/v1/no/such/route"),
                         ("POST", "/kling/v1/videos/unknown"), ("DELETE", "/v1/videos/text2video"),
                         ("GET", "/v1/videos/image2video/1")):
        assert_error(await http.request(method, path, headers=bad), 401, 1002)
    for method, path in (("GET", "/v1/no/such/route"), ("POST", "/kling/v1/videos/unknown")):
        assert_error(await http.request(method, path, headers=alice.headers), 404, 1202)
    # a known path with a method it does not serve: 405 (issue 9), after authentication too
    assert_error(await http.delete("/v1/videos/text2video", headers=alice.headers), 405, 1202)
    assert_error(await http.get("/v1/no/such/route"), 401, 1001)


async def test_account_costs_without_quotas(http: httpx.AsyncClient, alice: Credentials) -> None:
    # Kling's own route is at the root (no /v1); a gateway adds its prefix; both /v1 forms stay.
    for prefix in ("", "/kling", "/v1", "/kling/v1"):
        response = await http.get(f"{prefix}/account/costs?start_time=0&end_time=1",
                                  headers=alice.headers)
        body = response.json()
        assert response.status_code == 200 and body["code"] == 0
        assert body["data"] == {"code": 0, "msg": "", "resource_pack_subscribe_infos": []}
    assert_error(await http.get("/v1/account/costs?start_time=5&end_time=1",
                                headers=alice.headers), 400, 1201, "end_time: ")
    assert_error(await http.get("/v1/account/costs?start_time=x", headers=alice.headers),
                 400, 1201, "start_time: ")
    for path in ("/account/costs", "/kling/account/costs"):
        assert_error(await http.get(path, headers={"Authorization": "Bearer ok-wrong"}),
                     401, 1002)
        assert_error(await http.get(f"{path}?start_time=5&end_time=1", headers=alice.headers),
                     400, 1201, "end_time: ")


async def test_quota_spend_refund_and_exhaustion(server: ServerHandle,
                                                 http: httpx.AsyncClient) -> None:
    bob = server.create_key("bob")
    added = server.cli("quota", "add", "bob", "--units", "2.5", "--days", "30", "--name",
                       "trial", "--json")
    assert added.returncode == 0, added.stderr
    pack_id = json.loads(added.stdout)["resource_pack_id"]

    async def remaining() -> float:
        data = (await http.get("/v1/account/costs", headers=bob.headers)).json()["data"]
        [pack] = data["resource_pack_subscribe_infos"]
        assert pack["resource_pack_id"] == pack_id and pack["resource_pack_name"] == "trial"
        assert pack["resource_pack_type"] == "decreasing_total" and pack["total_quantity"] == 2.5
        return float(pack["remaining_quantity"])

    assert await remaining() == 2.5
    # A 5 s std video costs 1 unit (default prices): held at create, spent on success.
    ok = (await http.post("/v1/videos/text2video", headers=bob.headers,
                          json={"prompt": "paid"})).json()["data"]
    assert (await wait_for_status(http, f"/v1/videos/text2video/{ok['task_id']}",
                                  bob.headers, {"succeed", "failed"}))["task_status"] == "succeed"
    assert await remaining() == 1.5
    # A failed task gives its unit back, once.
    failed = (await http.post("/v1/videos/text2video", headers=bob.headers,
                              json={"prompt": "[fail]"})).json()["data"]
    assert (await wait_for_status(http, f"/v1/videos/text2video/{failed['task_id']}",
                                  bob.headers, {"succeed", "failed"}))["task_status"] == "failed"
    assert await remaining() == 1.5
    # Images cost 0.25 each: 4 images take 1 unit, leaving 0.5 -- then a video is refused.
    pics = await http.post("/v1/images/generations", headers=bob.headers,
                           json={"prompt": "x", "n": 4})
    assert pics.status_code == 200
    message = assert_error(await http.post("/v1/videos/text2video", headers=bob.headers,
                                           json={"prompt": "too much"}), 429, 1102)
    assert "needs 1 units" in message
    assert await remaining() == 0.5


async def test_family_tasks_call_back_with_their_result(http: httpx.AsyncClient,
                                                        alice: Credentials) -> None:
    with CallbackReceiverDouble() as receiver:
        created = await http.post("/v1/images/generations", headers=alice.headers,
                                  json={"prompt": "hook", "n": 2,
                                        "callback_url": receiver.url})
        assert created.status_code == 200, created.text
        received = await asyncio.to_thread(receiver.wait_for, 2)
    last = received[-1].json
    assert last["task_id"] == created.json()["data"]["task_id"]
    assert last["task_status"] == "succeed" and "code" not in last
    assert [image["index"] for image in last["task_result"]["images"]] == [0, 1]
