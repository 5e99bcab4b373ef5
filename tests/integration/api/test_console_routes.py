"""The console's files and its tenant-scoped read routes under /console/api."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import Credentials, ServerHandle, wait_for_status
from tests.doubles.receiver import CallbackReceiverDouble

KLING = "/v1/videos/text2video"


@pytest.fixture(scope="module")
def server(api_server: ServerHandle) -> ServerHandle:
    return api_server


@pytest.fixture(scope="module")
def alice(server: ServerHandle) -> Credentials:
    return server.create_key("console-alice")


@pytest.fixture(scope="module")
def bob(server: ServerHandle) -> Credentials:
    return server.create_key("console-bob")


@pytest.fixture
async def http(server: ServerHandle) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client  # type: ignore[misc]


async def create(http: httpx.AsyncClient, who: Credentials, **body: object) -> str:
    response = await http.post(KLING, headers=who.headers, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


async def test_console_pages_are_served_from_the_package(http: httpx.AsyncClient) -> None:
    redirect = await http.get("/console")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"
    index = await http.get("/console/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in index.text
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    script = await http.get("/console/pages/tasks.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await http.get("/console/style.css")).headers["content-type"].startswith("text/css")
    # nothing loads from elsewhere
    for name in ("index.html", "app.js", "api.js", "style.css"):
        assert "https://" not in (await http.get(f"/console/{name}")).text


@pytest.mark.parametrize("path", [
    "/console/../pyproject.toml",
    "/console/%2e%2e/__init__.py",
    "/console/..%2f..%2fconfig.py",
    "/console/.hidden",
    "/console/pages/../../__init__.py",
])
async def test_nothing_outside_the_static_folder_is_served(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    if not response.request.url.path.startswith("/console/"):
        # the client resolved the dots: an unknown route, which authenticates first (1001)
        assert (response.status_code, response.json()["code"]) == (401, 1001)
    else:
        # the app's page (it shows its own 404) or a JSON 404; never a file from elsewhere
        assert response.status_code == 404 or '<script type="module"' in response.text
    assert "from __future__" not in response.text and "[project]" not in response.text


async def test_unknown_console_api_route_is_a_kling_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/console/api/nothing-here")
    assert response.status_code == 404 and response.json()["code"] == 1203


async def test_me_names_the_account_and_what_the_form_offers(
    http: httpx.AsyncClient, alice: Credentials
) -> None:
    response = await http.get("/console/api/me", headers=alice.headers)
    data = response.json()["data"]
    assert data["account"] == "console-alice" and data["is_admin"] is False
    assert data["limits"]["prompt"] == 2500  # Kling's prompt limit
    assert data["default_model"] == "kling-v1"
    v1 = next(m for m in data["models"] if m["name"] == "kling-v1")
    assert v1["durations"] == ["5", "10"]


@pytest.mark.parametrize("path", ["/console/api/me", "/console/api/tasks",
                                  "/console/api/tasks/123"])
async def test_console_routes_need_a_key(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).json()["code"] == 1001
    bad = await http.get(path, headers={"Authorization": "Bearer ok-nope"})
    assert bad.status_code == 401 and bad.json()["code"] == 1002


async def test_task_list_filters_pages_and_isolates_tenants(
    http: httpx.AsyncClient, alice: Credentials, bob: Credentials
) -> None:
    ok = await create(http, alice, prompt="fine", model_name="kling-v1")
    bad = await create(http, alice, prompt="please [fail]")
    theirs = await create(http, bob, prompt="bob's")
    for task in (ok, bad):
        await wait_for_status(http, f"{KLING}/{task}", alice.headers, {"succeed", "failed"})
    await wait_for_status(http, f"{KLING}/{theirs}", bob.headers, {"succeed", "failed"})

    listed = (await http.get("/console/api/tasks", headers=alice.headers)).json()["data"]
    ids = [t["task_id"] for t in listed]
    assert ids[:2] == [bad, ok]  # newest first
    assert theirs not in ids
    first = listed[1]
    assert first["family"] == "videos/text2video" and first["model_name"] == "kling-v1"
    assert first["prompt"] == "fine" and first["task_status"] == "succeed"
    assert first["task_result"]["videos"][0]["url"]

    failed = (await http.get("/console/api/tasks", params={"status": "failed"},
                             headers=alice.headers)).json()["data"]
    assert [t["task_id"] for t in failed] == [bad]
    unfinished = (await http.get("/console/api/tasks", params={"status": "unfinished"},
                                 headers=alice.headers)).json()["data"]
    assert unfinished == []
    page2 = (await http.get("/console/api/tasks", params={"pageNum": 2, "pageSize": 1},
                            headers=alice.headers)).json()["data"]
    assert [t["task_id"] for t in page2] == [ok]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "done"}, "status"),
    ({"pageNum": 0}, "pageNum"),
    ({"pageSize": 501}, "pageSize"),
])
async def test_bad_list_parameters_are_400_1201(
    http: httpx.AsyncClient, alice: Credentials, params: dict[str, object], field: str
) -> None:
    response = await http.get("/console/api/tasks", params=params, headers=alice.headers)
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert field in response.json()["message"]


async def test_task_detail_has_request_and_callback_history(
    http: httpx.AsyncClient, alice: Credentials, bob: Credentials
) -> None:
    with CallbackReceiverDouble() as receiver:
        task_id = await create(http, alice, prompt="with a callback", callback_url=receiver.url,
                               aspect_ratio="9:16", external_task_id="console-cb")
        await wait_for_status(http, f"{KLING}/{task_id}", alice.headers, {"succeed"})
        receiver.wait_for(2)
        detail = None
        for _ in range(100):  # the worker marks deliveries done just after sending them
            detail = (await http.get(f"/console/api/tasks/{task_id}",
                                     headers=alice.headers)).json()["data"]
            if all(c["state"] == "delivered" for c in detail["callbacks"]):
                break
            await asyncio.sleep(0.1)
    assert detail is not None
    assert detail["request"]["prompt"] == "with a callback"
    assert detail["request"]["aspect_ratio"] == "9:16"
    assert detail["callback_url"] == receiver.url
    assert detail["task_info"] == {"external_task_id": "console-cb"}
    events = [c["task_status"] for c in detail["callbacks"]]
    assert events[-1] == "succeed" and len(events) >= 2
    assert {c["state"] for c in detail["callbacks"]} == {"delivered"}

    hidden = await http.get(f"/console/api/tasks/{task_id}", headers=bob.headers)
    assert hidden.status_code == 404 and hidden.json()["code"] == 1203
    for missing in ("/console/api/tasks/1", "/console/api/tasks/not-a-task-id"):
        response = await http.get(missing, headers=alice.headers)
        assert response.status_code == 404 and response.json()["code"] == 1203
