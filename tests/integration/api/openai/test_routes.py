"""The OpenAI routes over HTTP (provider double, SQLite and PostgreSQL): OpenAI's error shape
on every failure a client can cause, the parameters each names, and Kling's routes under the
same /v1/videos/ prefix answering exactly as before, OpenAI-created tasks included."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import Credentials, ServerHandle, wait_for_status

pytestmark = pytest.mark.integration


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 60, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def creds(api_server: ServerHandle) -> Credentials:
    return api_server.create_key("openai-routes")


@pytest.fixture
async def http(api_server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as client:
        yield client


def openai_error(response: httpx.Response, status: int, param: str | None = None) -> (
        dict[str, Any]):
    """The body is OpenAI's error object (never Kling's envelope), with this status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if param is not None:
        assert error["param"] == param and param in error["message"]
    return error


async def create(http: httpx.AsyncClient, creds: Credentials, **fields: Any) -> (
        dict[str, Any]):
    response = await http.post("/v1/videos", headers=creds.headers,
                               json={"prompt": "a fox", **fields})
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()
    return video


async def test_credentials_are_checked_first_in_openai_shape(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer ok-wrong"}, {"Authorization": "Basic x"}):
        for method, path in (("POST", "/v1/videos"), ("GET", "/v1/videos"),
                             ("GET", "/v1/videos/video_00"), ("DELETE", "/v1/videos/video_0"),
                             ("GET", "/v1/videos/video_0/content"),
                             ("POST", "/v1/videos/video_0/remix")):
            response = await http.request(method, path, headers=headers, json={"prompt": "x"})
            assert openai_error(response, 401)["code"] == "invalid_api_key"


@pytest.mark.parametrize(("body", "param"), [
    ({}, "prompt"), ({"prompt": "  "}, "prompt"), ({"prompt": 5}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"prompt": "x", "model": "sora-9"}, "model"),
    ({"prompt": "x", "size": "1280x1000"}, "size"), ({"prompt": "x", "size": 720}, "size"),
    ({"prompt": "x", "seconds": "12"}, "seconds"), ({"prompt": "x", "seconds": "0"}, "seconds"),
    ({"prompt": "x", "seconds": 4.5}, "seconds"),
    ({"prompt": "x", "input_reference": {"file_id": "file_1"}}, "input_reference"),
    ({"prompt": "x", "input_reference": {}}, "input_reference"),
    ({"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,!!"}},
     "input_reference"),
    ({"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,"
                                         + base64.b64encode(png(100, 100)).decode()}},
     "input_reference"),  # too small for Kling's 300 px rule
])
async def test_bad_creates_are_400_naming_the_parameter(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, Any], param: str) -> None:
    response = await http.post("/v1/videos", headers=creds.headers, json=body)
    error = openai_error(response, 400, param)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b"null"])
async def test_a_body_that_is_no_json_object_is_400(
        http: httpx.AsyncClient, creds: Credentials, raw: bytes) -> None:
    response = await http.post("/v1/videos", headers={**creds.headers,
                                                       "Content-Type": "application/json"},
                               content=raw)
    openai_error(response, 400)


async def test_multipart_creates_take_an_uploaded_image(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    response = await http.post(
        "/v1/videos", headers=creds.headers,
        data={"prompt": "leaves", "size": "720x1280", "seconds": "8"},
        files={"input_reference": ("f.png", png(400, 720), "image/png")})
    assert response.status_code == 200, response.text
    video = response.json()
    assert (video["size"], video["seconds"], video["model"]) == ("720x1280", "8", "sora-2")
    kling = await wait_for_status(http, f"/v1/videos/image2video/{video['id']}",
                                  creds.headers, {"succeed"})
    assert kling["task_id"] == video["id"]
    not_an_image = await http.post(
        "/v1/videos", headers=creds.headers, data={"prompt": "x"},
        files={"input_reference": ("f.png", b"not an image", "image/png")})
    openai_error(not_an_image, 400, "input_reference")
    wrong_field = await http.post(
        "/v1/videos", headers=creds.headers, data={"prompt": "x"},
        files={"image": ("f.png", png(400, 400), "image/png")})
    openai_error(wrong_field, 400, "image")


async def test_an_image_url_object_is_fetched_like_a_kling_image(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png(640, 360)).decode()
    video = await create(http, creds, input_reference={"image_url": data_url})
    await wait_for_status(http, f"/v1/videos/image2video/{video['id']}", creds.headers,
                          {"succeed"})
    # A private address is refused by the same guard as Kling's image URLs.
    response = await http.post("/v1/videos", headers=creds.headers, json={
        "prompt": "x", "input_reference": {"image_url": "http://127.0.0.1:9/a.png"}})
    openai_error(response, 400, "input_reference")


async def test_unknown_videos_are_404_in_openai_shape(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    for method, path in (("GET", "/v1/videos/video_missing"),
                         ("DELETE", "/v1/videos/video_missing"),
                         ("GET", "/v1/videos/video_missing/content"),
                         ("POST", "/v1/videos/video_missing/remix")):
        response = await http.request(method, path, headers=creds.headers,
                                      json={"prompt": "x"})
        assert openai_error(response, 404)["code"] == "not_found"


async def test_an_unfinished_video_has_no_content_remix_or_delete_until_it_ends(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    video = await create(http, creds, prompt="slow [sleep=60]")
    path = f"/v1/videos/{video['id']}"
    openai_error(await http.get(f"{path}/content", headers=creds.headers), 400)
    openai_error(await http.post(f"{path}/remix", headers=creds.headers,
                                 json={"prompt": "y"}), 400)
    openai_error(await http.delete(path, headers=creds.headers), 409)
    # The Kling door's cancel ends it; then it is failed, and deletable.
    cancel = await http.post(f"/v1/videos/text2video/{video['id']}/cancel",
                             headers=creds.headers)
    assert cancel.json()["code"] == 0
    await wait_for_status(http, f"/v1/videos/text2video/{video['id']}", creds.headers,
                          {"failed"})
    failed = (await http.get(path, headers=creds.headers)).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "video_generation_failed"
    assert failed["error"]["message"] == "cancelled by the user"
    openai_error(await http.post(f"{path}/remix", headers=creds.headers,
                                 json={"prompt": "y"}), 400)
    deleted = await http.delete(path, headers=creds.headers)
    assert deleted.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    openai_error(await http.get(path, headers=creds.headers), 404)


@pytest.mark.parametrize(("query", "param"), [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
    ("order=up", "order"), ("variant=poster", "variant"),
])
async def test_bad_query_parameters_are_400_naming_them(
        http: httpx.AsyncClient, creds: Credentials, query: str, param: str) -> None:
    path = "/v1/videos/video_x/content" if param == "variant" else "/v1/videos"
    openai_error(await http.get(f"{path}?{query}", headers=creds.headers), 400, param)


async def test_a_remix_needs_a_prompt(http: httpx.AsyncClient, creds: Credentials) -> None:
    video = await create(http, creds)
    for body in ({}, {"prompt": ""}, {"prompt": " "}):
        response = await http.post(f"/v1/videos/{video['id']}/remix", headers=creds.headers,
                                   json=body)
        openai_error(response, 400, "prompt")


async def test_kling_routes_keep_their_answers_beside_the_openai_ones(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    video = await create(http, creds)
    done = await wait_for_status(http, f"/v1/videos/text2video/{video['id']}", creds.headers,
                                 {"succeed"})
    assert done["task_id"] == video["id"]
    # The fast path (no query string) and the FastAPI route (a query string) agree.
    slow = (await http.get(f"/v1/videos/text2video/{video['id']}?x=1",
                           headers=creds.headers)).json()
    assert slow["code"] == 0 and slow["data"]["task_id"] == video["id"]
    # The same task on Kling's list, alongside Kling-created ones.
    kling = await http.post("/v1/videos/text2video", headers=creds.headers,
                            json={"prompt": "kling"})
    listed = (await http.get("/v1/videos/text2video?pageSize=500",
                             headers=creds.headers)).json()["data"]
    ids = {task["task_id"] for task in listed}
    assert {video["id"], kling.json()["data"]["task_id"]} <= ids
    # OpenAI's list shows only the videos made through its door.
    openai_ids = {v["id"] for v in (await http.get("/v1/videos?limit=100",
                                                   headers=creds.headers)).json()["data"]}
    assert video["id"] in openai_ids and kling.json()["data"]["task_id"] not in openai_ids
    # Kling's answers for what is not there are Kling's, on Kling paths.
    for path, code in (("/v1/videos/text2video/nosuchtask", 1203),
                       ("/v1/videos/123", 1202), ("/v1/videos/nosuchfamily/1", 1202)):
        body = (await http.get(path, headers=creds.headers)).json()
        assert body["code"] == code and "request_id" in body, (path, body)
    # A Kling id under the OpenAI door is not an OpenAI video.
    kling_id = kling.json()["data"]["task_id"]
    assert (await http.get(f"/v1/videos/{kling_id}", headers=creds.headers)).json()[
        "code"] == 1202


async def test_list_pages_with_a_cursor_in_both_orders(
        http: httpx.AsyncClient, api_server: ServerHandle) -> None:
    creds = api_server.create_key("openai-list")
    made = [(await create(http, creds, prompt=f"v{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    after = None
    while True:
        query = "limit=2" + (f"&after={after}" if after else "")
        page = (await http.get(f"/v1/videos?{query}", headers=creds.headers)).json()
        assert page["object"] == "list" and len(page["data"]) <= 2
        ids = [v["id"] for v in page["data"]]
        assert (page["first_id"], page["last_id"]) == (ids[0], ids[-1])
        seen += ids
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == made[::-1]
    ascending = (await http.get("/v1/videos?order=asc&limit=3", headers=creds.headers)).json()
    assert [v["id"] for v in ascending["data"]] == made[:3] and ascending["has_more"]
    empty = (await http.get(f"/v1/videos?after={made[0]}", headers=creds.headers)).json()
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None,
                     "has_more": False}


async def test_a_kling_clients_front_field_is_not_taken_for_the_openai_doors_note(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    image = base64.b64encode(png(640, 360)).decode()
    created = await http.post("/v1/videos/image2video", headers=creds.headers, json={
        "image": image, "front": {"model": "sora-2", "size": "1x1"}})
    task_id = created.json()["data"]["task_id"]
    detail = (await http.get(f"/console/api/tasks/{task_id}", headers=creds.headers)).json()
    assert "front" not in detail["data"]["request"]
