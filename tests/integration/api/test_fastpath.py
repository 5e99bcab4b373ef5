"""The poll fast path answers exactly as the FastAPI route it shortcuts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkling.api.app import create_app
from openkling.api.fastpath import PollFastPath
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
    app = create_app(Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE, embedded_worker=False))
    async with app.router.lifespan_context(app):
        plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=PollFastPath(app)),
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
