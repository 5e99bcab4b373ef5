"""The poll fast path answers exactly as the FastAPI route it shortcuts, and `create_app`
installs it (the FastAPI route serves polls only with `fast_poll=False` or a query string)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from openkling.api.app import create_app
from openkling.config import Settings
from tests.conftest import PROVIDER_DOUBLE, ROOT


def make_key(data_dir: Path, name: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "openkling.cli.main", "keys", "create", "--name", name, "--json",
         "--data-dir", str(data_dir)], capture_output=True, check=True, cwd=ROOT)
    return dict(json.loads(out.stdout))


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient,
                                                          dict[str, Any], dict[str, Any]]]:
    alice, bob = make_key(tmp_path, "alice"), make_key(tmp_path, "bob")
    settings = Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE, embedded_worker=False)
    fast_app, plain_app = create_app(settings), create_app(settings, fast_poll=False)
    async with fast_app.router.lifespan_context(fast_app), \
            plain_app.router.lifespan_context(plain_app):
        plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=plain_app),
                                  base_url="http://t")
        fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_app),
                                 base_url="http://t")
        async with plain, fast:
            yield plain, fast, alice, bob


def comparable(response: httpx.Response) -> tuple[int, dict[str, Any], str]:
    body = response.json()
    assert body.pop("request_id") == response.headers["x-request-id"]
    return response.status_code, body, response.headers["content-type"]


async def test_same_answers_on_both_paths(clients: Any) -> None:
    plain, fast, alice, bob = clients
    auth = {"Authorization": f"Bearer {alice['api_key']}"}
    created = (await plain.post("/v1/videos/text2video", headers=auth,
                                json={"prompt": "x", "external_task_id": "e-1"})).json()["data"]
    cases = [
        (f"/v1/videos/text2video/{created['task_id']}", auth),
        (f"/kling/v1/videos/text2video/{created['task_id']}", auth),
        ("/kling/v1/videos/text2video/e-1", {**auth, "Content-Type": "application/json"}),
        ("/v1/videos/text2video/404", auth),
        (f"/v1/videos/text2video/{created['task_id']}",
         {"Authorization": f"Bearer {bob['api_key']}"}),
        (f"/v1/videos/text2video/{created['task_id']}", {}),
        (f"/v1/videos/text2video/{created['task_id']}", {"Authorization": "Bearer nope"}),
    ]
    for path, headers in cases:
        assert comparable(await fast.get(path, headers=headers)) == comparable(
            await plain.get(path, headers=headers)), path


async def test_other_requests_pass_through(clients: Any) -> None:
    _, fast, alice, _ = clients
    auth = {"Authorization": f"Bearer {alice['api_key']}"}
    assert (await fast.get("/v1/videos/text2video?pageSize=2", headers=auth)).status_code == 200
    assert (await fast.get("/healthz")).json() == {"status": "ok"}
    nested = await fast.get("/v1/videos/text2video/1/cancel", headers=auth)
    assert nested.json()["code"] == 1202


async def test_a_poll_with_a_query_string_is_answered_by_the_route_alike(clients: Any) -> None:
    plain, fast, alice, _ = clients
    auth = {"Authorization": f"Bearer {alice['api_key']}"}
    created = (await plain.post("/v1/videos/text2video", headers=auth,
                                json={"prompt": "x"})).json()["data"]
    path = f"/v1/videos/text2video/{created['task_id']}"
    via_route = comparable(await fast.get(f"{path}?lang=en", headers=auth))
    assert via_route == comparable(await fast.get(path, headers=auth))
    assert via_route[1]["data"]["task_id"] == created["task_id"]


async def test_doubled_slashes_are_served_on_both_paths(clients: Any) -> None:
    plain, fast, alice, _ = clients
    auth = {"Authorization": f"Bearer {alice['api_key']}"}
    created = await fast.post("/v1//images/generations", headers=auth, json={"prompt": "x"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    expected = comparable(await plain.get(f"/v1/images/generations/{task_id}", headers=auth))
    assert expected[1]["data"]["task_id"] == task_id
    # The official try-on client polls `/v1/images/kolors-virtual-try-on//{id}`.
    for path in (f"/v1/images/generations//{task_id}", f"/kling//v1/images/generations/{task_id}",
                 f"/v1/images//generations///{task_id}"):
        for client in (fast, plain):
            answer = await client.get(path, headers=auth)
            assert comparable(answer) == expected, path


def _polls(route: str) -> float:
    return REGISTRY.get_sample_value("openkling_http_requests_total",
                                     {"route": route, "method": "GET", "status": "200"}) or 0.0


async def test_the_fast_path_records_each_polls_own_family(clients: Any) -> None:
    _, fast, alice, _ = clients
    auth = {"Authorization": f"Bearer {alice['api_key']}"}
    task_id = (await fast.post("/v1/images/generations", headers=auth,
                               json={"prompt": "x"})).json()["data"]["task_id"]
    routes = ("/v1/images/generations/{task_id}", "/kling/v1/images/generations/{task_id}",
              "/v1/videos/text2video/{task_id}", "/kling/v1/videos/text2video/{task_id}")
    before = [_polls(route) for route in routes]
    assert (await fast.get(f"/v1/images/generations/{task_id}", headers=auth)).status_code == 200
    assert (await fast.get(f"/kling/v1/images/generations/{task_id}",
                           headers=auth)).status_code == 200
    after = [_polls(route) for route in routes]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 0, 0]


async def test_a_three_segment_family_is_polled_on_the_fast_path_alike(clients: Any) -> None:
    """`images/editing/expand` and `videos/avatar/image2video` have three segments."""
    plain, fast, alice, _ = clients
    auth = {"Authorization": f"Bearer {alice['api_key']}"}
    for family in ("images/editing/expand", "videos/avatar/image2video"):
        for path in (f"/v1/{family}/404", f"/kling/v1/{family}/404"):
            answer = await fast.get(path, headers=auth)
            assert (answer.status_code, answer.json()["code"]) == (404, 1203), path
            assert comparable(answer) == comparable(await plain.get(path, headers=auth))
    recorded = REGISTRY.get_sample_value(
        "openkling_http_requests_total",
        {"route": "/v1/images/editing/expand/{task_id}", "method": "GET", "status": "404"})
    assert recorded is not None and recorded >= 2  # its own route, not text2video's
