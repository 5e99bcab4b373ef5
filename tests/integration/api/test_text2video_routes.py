"""The Kling routes through real HTTP, on SQLite and PostgreSQL (one server per module)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from openapi_spec_validator import validate

from tests.conftest import Credentials, ServerHandle, wait_for_status

PREFIXES = ["/v1", "/kling/v1"]


@pytest.fixture(scope="module")
def alice(api_server: ServerHandle) -> Credentials:
    return api_server.create_key("alice")


@pytest.fixture(scope="module")
def bob(api_server: ServerHandle) -> Credentials:
    return api_server.create_key("bob")


@pytest.fixture
async def client(api_server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as c:
        yield c


def assert_envelope(body: dict[str, object], code: int = 0) -> None:
    assert body["code"] == code
    assert isinstance(body["request_id"], str) and body["request_id"]
    assert isinstance(body["message"], str)
    if code:
        assert body.get("data") is None
    else:
        assert body["message"] == "SUCCEED"


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_create_then_query_exact_types(
    client: httpx.AsyncClient, alice: Credentials, prefix: str
) -> None:
    ext = f"ext-{uuid.uuid4()}"
    response = await client.post(
        f"{prefix}/videos/text2video", headers=alice.headers,
        json={"model_name": "kling-v1", "prompt": "a cat surfing", "duration": 5,
              "external_task_id": ext},
    )
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body)
    assert response.headers["x-request-id"] == body["request_id"]
    data = body["data"]
    assert set(data) == {"task_id", "task_status", "task_info", "created_at", "updated_at"}
    assert isinstance(data["task_id"], str) and data["task_id"].isdigit()
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": ext}
    assert isinstance(data["created_at"], int) and data["created_at"] > 1_600_000_000_000

    done = await wait_for_status(
        client, f"{prefix}/videos/text2video/{data['task_id']}", alice.headers, {"succeed"}
    )
    assert done["task_status_msg"] == "" and done["progress"] == 100
    assert isinstance(done["updated_at"], int) and done["updated_at"] >= data["created_at"]
    (video,) = done["task_result"]["videos"]  # type: ignore[index]
    assert isinstance(video["duration"], str) and video["duration"] == "1.1"
    assert isinstance(video["id"], str) and video["url"].startswith("http://127.0.0.1:")

    by_ext = (await client.get(f"{prefix}/videos/text2video/{ext}", headers=alice.headers)).json()
    by_query = (await client.get(f"{prefix}/videos/text2video",
                                 params={"external_task_id": ext}, headers=alice.headers)).json()
    assert by_ext["data"]["task_id"] == by_query["data"]["task_id"] == data["task_id"]


async def test_seed_request_shapes_behave_like_a_plain_get(
    client: httpx.AsyncClient, alice: Credentials
) -> None:
    created = (await client.post("/kling/v1/videos/text2video", headers=alice.headers,
                                 json={"prompt": "seed"})).json()["data"]
    path = f"/kling/v1/videos/text2video/{created['task_id']}"
    headers = {**alice.headers, "Content-Type": "application/json"}
    plain = await client.get(path, headers=alice.headers)
    no_body = await client.get(path, headers=headers)
    json_body = await client.request(
        "GET", path, headers=headers,
        content=b'{"task_id": "%s", "external_task_id": ""}' % created["task_id"].encode(),
    )
    comment_body = await client.request(
        "GET", path, headers=headers, content=b'// {\r\n//"task_id": "kling-v1825380683199176793"'
    )
    for response in (plain, no_body, json_body, comment_body):
        assert response.status_code == 200
        assert response.json()["data"]["task_id"] == created["task_id"]


async def test_tenants_are_isolated(
    client: httpx.AsyncClient, alice: Credentials, bob: Credentials
) -> None:
    ext = f"shared-{uuid.uuid4()}"
    mine = (await client.post("/v1/videos/text2video", headers=alice.headers,
                              json={"prompt": "a", "external_task_id": ext})).json()["data"]
    theirs = await client.post("/v1/videos/text2video", headers=bob.headers,
                               json={"prompt": "b", "external_task_id": ext})
    assert theirs.status_code == 200  # the same external id under another account is fine
    theirs_id = theirs.json()["data"]["task_id"]
    for path in (f"/v1/videos/text2video/{mine['task_id']}",):
        response = await client.get(path, headers=bob.headers)
        assert response.status_code == 404 and response.json()["code"] == 1203
    by_ext = (await client.get(f"/v1/videos/text2video/{ext}", headers=bob.headers)).json()
    assert by_ext["data"]["task_id"] == theirs_id
    listed = (await client.get("/v1/videos/text2video?pageSize=500",
                               headers=bob.headers)).json()["data"]
    assert mine["task_id"] not in {t["task_id"] for t in listed}
    missing = await client.get("/v1/videos/text2video/999", headers=bob.headers)
    assert missing.status_code == 404 and missing.json()["code"] == 1203
    absent = await client.get("/v1/videos/text2video", params={"external_task_id": "nope"},
                              headers=bob.headers)
    assert absent.status_code == 404 and absent.json()["code"] == 1203


async def test_duplicate_external_task_id(client: httpx.AsyncClient, alice: Credentials) -> None:
    ext = f"dup-{uuid.uuid4()}"
    first = await client.post("/v1/videos/text2video", headers=alice.headers,
                              json={"prompt": "a", "external_task_id": ext})
    assert first.status_code == 200
    second = await client.post("/v1/videos/text2video", headers=alice.headers,
                               json={"prompt": "a", "external_task_id": ext})
    assert second.status_code == 400
    assert second.json()["code"] == 1201
    assert second.json()["message"].startswith("external_task_id:")


async def test_list_paging_newest_first(
    client: httpx.AsyncClient, api_server: ServerHandle
) -> None:
    who = api_server.create_key(f"lister-{uuid.uuid4().hex[:6]}")
    ids = []
    for i in range(5):
        response = await client.post("/v1/videos/text2video", headers=who.headers,
                                     json={"prompt": f"p{i}"})
        ids.append(response.json()["data"]["task_id"])
    page = (await client.get("/v1/videos/text2video?pageNum=1&pageSize=2",
                             headers=who.headers)).json()
    assert_envelope(page)
    assert [t["task_id"] for t in page["data"]] == ids[::-1][:2]
    last = (await client.get("/kling/v1/videos/text2video?pageNum=3&pageSize=2",
                             headers=who.headers)).json()["data"]
    assert [t["task_id"] for t in last] == [ids[0]]
    default = (await client.get("/v1/videos/text2video", headers=who.headers)).json()["data"]
    assert len(default) == 5


@pytest.mark.parametrize(
    "query,field",
    [("pageNum=0", "pageNum"), ("pageNum=1001", "pageNum"), ("pageSize=0", "pageSize"),
     ("pageSize=501", "pageSize"), ("pageNum=abc", "pageNum")],
)
async def test_list_bounds(
    client: httpx.AsyncClient, alice: Credentials, query: str, field: str
) -> None:
    response = await client.get(f"/v1/videos/text2video?{query}", headers=alice.headers)
    assert response.status_code == 400
    body = response.json()
    assert_envelope(body, 1201)
    assert body["message"].startswith(f"{field}:")


@pytest.mark.parametrize(
    "body,code,field",
    [
        (b"{bad json", 1200, None),
        (b"[1, 2]", 1200, None),
        (b"", 1200, None),
        (b'"just a string"', 1200, None),
        (b'{"prompt": ""}', 1201, "prompt"),
        (b'{"negative_prompt": "x"}', 1201, "prompt"),
        (b'{"prompt": 5}', 1201, "prompt"),
        (b'{"prompt": "x", "cfg_scale": 1.5}', 1201, "cfg_scale"),
        (b'{"prompt": "x", "mode": "max"}', 1201, "mode"),
        (b'{"prompt": "x", "aspect_ratio": "4:3"}', 1201, "aspect_ratio"),
        (b'{"prompt": "x", "duration": "7"}', 1201, "duration"),
        (b'{"prompt": "x", "model": "kling-v9"}', 1201, "model_name"),
        (b'{"prompt": "x", "camera_control": {"type": "simple"}}', 1201, "camera_control"),
        (b'{"prompt": "x", "callback_url": "ftp://x"}', 1201, "callback_url"),
        (b'{"prompt": "[reject]"}', 1201, "prompt"),
        # Found by review and fuzzing: each of these was once a 500.
        (b'{"prompt": "x", "duration": 1e400}', 1201, "duration"),
        (b'{"prompt": "x", "cfg_scale": NaN}', 1200, None),
        (b'{"prompt": "x", "callback_url": "http://[::1/x"}', 1201, "callback_url"),
        (b'{"prompt": "x", "cfg_scale": true}', 1201, "cfg_scale"),
        (b'{"prompt": "nul \\u0000 inside"}', 1201, "prompt"),
        (b'{"prompt": "x", "external_task_id": "a\\u0000b"}', 1201, "external_task_id"),
    ],
)
async def test_bad_create_bodies_get_kling_errors(
    client: httpx.AsyncClient, alice: Credentials, body: bytes, code: int, field: str | None
) -> None:
    response = await client.post(
        "/v1/videos/text2video", content=body,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    data = response.json()
    assert_envelope(data, code)
    if field:
        assert data["message"].startswith(f"{field}:"), data["message"]


async def test_newer_models_accept_flexible_durations(
    client: httpx.AsyncClient, alice: Credentials
) -> None:
    ok = await client.post("/v1/videos/text2video", headers=alice.headers,
                           json={"prompt": "x", "model_name": "kling-v3", "duration": "7"})
    assert ok.status_code == 200


async def test_body_without_json_content_type_is_still_parsed(
    client: httpx.AsyncClient, alice: Credentials
) -> None:
    response = await client.post(
        "/v1/videos/text2video", content=b'{"prompt": "from curl -d"}',
        headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


async def test_oversized_body_rejected_before_parsing(
    client: httpx.AsyncClient, alice: Credentials
) -> None:
    big = b'{"prompt": "' + b"x" * (300 * 1024) + b'"}'
    response = await client.post("/v1/videos/text2video", content=big, headers=alice.headers)
    assert response.status_code == 413
    assert_envelope(response.json(), 1200)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b"x" * 10_000

    streamed = await client.post("/v1/videos/text2video", content=chunks(),
                                 headers=alice.headers)
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    "path", ["/v1/videos/text2video/a%00b", "/v1/videos/text2video?external_task_id=a%00b",
             "/kling/v1/videos/text2video/" + "9" * 200])
async def test_odd_lookup_keys_are_not_found(
    client: httpx.AsyncClient, alice: Credentials, path: str
) -> None:
    # No task can have such a key (external_task_id refuses NUL and is at most 128
    # characters), so the contract's answer is the one for a missing task: 404 / 1203.
    response = await client.get(path, headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (404, 1203), response.text


async def test_non_hex_file_signature_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/files/x.mp4?expires=99999999999&signature=%C3%A9")
    assert response.status_code == 403 and response.json()["code"] == 1103


async def test_unknown_route_and_method(client: httpx.AsyncClient, alice: Credentials) -> None:
    response = await client.get("/v1/videos/nothing", headers=alice.headers)
    assert response.status_code == 404 and response.json()["code"] == 1202
    # A method the path does not serve: 405 (issue 9) with Kling's code for it, and Allow.
    response = await client.delete("/v1/videos/text2video", headers=alice.headers)
    assert response.status_code == 405 and response.json()["code"] == 1202
    assert response.headers["allow"] == "GET, POST"


async def test_lifecycle_failure_and_retry(client: httpx.AsyncClient, alice: Credentials) -> None:
    failed = (await client.post("/v1/videos/text2video", headers=alice.headers,
                                json={"prompt": "[fail]"})).json()["data"]
    done = await wait_for_status(client, f"/v1/videos/text2video/{failed['task_id']}",
                                 alice.headers, {"succeed", "failed"})
    assert done["task_status"] == "failed"
    assert done["task_status_msg"] == "the provider double was asked to fail"
    assert done["task_result"] == {}
    retried = (await client.post("/v1/videos/text2video", headers=alice.headers,
                                 json={"prompt": "[transient]"})).json()["data"]
    done = await wait_for_status(client, f"/v1/videos/text2video/{retried['task_id']}",
                                 alice.headers, {"succeed", "failed"})
    assert done["task_status"] == "succeed"


async def test_statuses_only_move_forward(client: httpx.AsyncClient, alice: Credentials) -> None:
    created = (await client.post("/v1/videos/text2video", headers=alice.headers,
                                 json={"prompt": "[sleep=1.5]"})).json()["data"]
    order = ["submitted", "processing", "succeed"]
    seen: list[str] = []
    progress: list[int] = []
    path = f"/v1/videos/text2video/{created['task_id']}"
    while not seen or seen[-1] != "succeed":
        data = (await client.get(path, headers=alice.headers)).json()["data"]
        if not seen or seen[-1] != data["task_status"]:
            seen.append(data["task_status"])
        progress.append(data["progress"])
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert "processing" in seen
    assert progress == sorted(progress) and progress[-1] == 100


async def test_cancel_extension(client: httpx.AsyncClient, alice: Credentials) -> None:
    created = (await client.post("/v1/videos/text2video", headers=alice.headers,
                                 json={"prompt": "[sleep=30]"})).json()["data"]
    path = f"/v1/videos/text2video/{created['task_id']}"
    await wait_for_status(client, path, alice.headers, {"processing"})
    response = await client.post(f"{path}/cancel", headers=alice.headers)
    assert response.status_code == 200
    done = await wait_for_status(client, path, alice.headers, {"failed", "succeed"})
    assert done["task_status"] == "failed" and done["task_status_msg"] == "cancelled by the user"
    missing = await client.post("/v1/videos/text2video/123/cancel", headers=alice.headers)
    assert missing.status_code == 404


async def test_video_download_with_range_and_signature_checks(
    client: httpx.AsyncClient, alice: Credentials
) -> None:
    created = (await client.post("/v1/videos/text2video", headers=alice.headers,
                                 json={"prompt": "download me"})).json()["data"]
    done = await wait_for_status(client, f"/v1/videos/text2video/{created['task_id']}",
                                 alice.headers, {"succeed"})
    url = done["task_result"]["videos"][0]["url"]  # type: ignore[index]
    whole = await client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content[4:8] == b"ftyp"
    head = await client.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(whole.content)
    part = await client.get(url, headers={"Range": "bytes=4-7"})
    assert part.status_code == 206 and part.content == b"ftyp"
    assert part.headers["content-range"] == f"bytes 4-7/{len(whole.content)}"
    tampered = url.replace("signature=", "signature=0")
    assert (await client.get(tampered)).status_code == 403
    expired = url.split("?")[0] + "?expires=1000&signature=" + url.split("signature=")[1]
    assert (await client.get(expired)).status_code == 403
    # (httpx resolves the dots: "/secret.key" is no route, so it asks for credentials first.)
    escape = await client.get("/files/../secret.key?expires=9999999999&signature=x")
    assert escape.status_code in (401, 403, 404) and b"secret" not in escape.content


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"
    spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for prefix in PREFIXES:
        post = spec["paths"][f"{prefix}/videos/text2video"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/Text2VideoRequest")
        assert "422" not in post["responses"]
        ok = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith("/CreatedEnvelope")
        get = spec["paths"][f"{prefix}/videos/text2video/{{task_id}}"]["get"]
        assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/TaskEnvelope")
        assert get["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorEnvelope")
        assert post["security"] == [{"bearer": []}]
    validate(spec)  # a valid OpenAPI 3 document, usable by client generators
    request_schema = spec["components"]["schemas"]["Text2VideoRequest"]
    assert "prompt" in request_schema["required"]
    task = spec["components"]["schemas"]["TaskObject"]["properties"]
    assert task["task_id"]["type"] == "string" and task["created_at"]["type"] == "integer"
    assert (await client.get("/docs")).status_code == 200
