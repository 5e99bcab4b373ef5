"""Unit tests of the relay's parts: tokens, error classes, task mapping, options, channels."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from openkling.core.families import TEXT2VIDEO as T2V
from openkling.core.kling_jwt import sign_token
from openkling.providers.kling.channels import Channel, ChannelPool
from openkling.providers.kling.rehost import RehostError, download, looks_like_video
from openkling.providers.kling.relay_options import ChannelOptions, KlingOptions
from openkling.providers.kling.upstream import (
    UpstreamBusy,
    UpstreamChannelError,
    UpstreamClient,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTask,
    UpstreamUnavailable,
)
from tests.doubles.kling_simulator import RunningSimulator
from tests.integration.providers.kling.conftest import AK, SK


def test_token_has_kling_claims() -> None:
    now = 1_700_000_000
    token = sign_token(AK, SK, now=now)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SK, algorithms=["HS256"], options={"verify_exp": False,
                                                                  "verify_nbf": False})
    assert claims == {"iss": AK, "exp": now + 1800, "nbf": now - 5}


def _auth(sim: RunningSimulator, token: str) -> dict[str, Any]:
    response = httpx.get(f"{sim.base_url}/v1/videos/text2video/1",
                         headers={"Authorization": f"Bearer {token}"})
    return {"status": response.status_code, "code": response.json()["code"]}


def test_simulator_checks_tokens_like_kling(simulator: RunningSimulator) -> None:
    now = time.time()
    assert _auth(simulator, sign_token(AK, SK)) == {"status": 404, "code": 1203}
    assert _auth(simulator, sign_token(AK, SK, now=now - 1900))["code"] == 1004
    assert _auth(simulator, sign_token(AK, SK, now=now + 60))["code"] == 1003
    assert _auth(simulator, sign_token(AK, "other-secret-0123456789abcdef0123"))["code"] == 1002
    assert _auth(simulator, sign_token("unknown", SK))["code"] == 1002
    no_header = httpx.get(f"{simulator.base_url}/v1/videos/text2video/1")
    assert no_header.status_code == 401 and no_header.json()["code"] == 1001


def _client(handler: Any, **channel: Any) -> UpstreamClient:
    options = ChannelOptions(name="c", base_url="http://upstream.test", api_key="k", **channel)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return UpstreamClient(options, http, asyncio.Semaphore(2), asyncio.Semaphore(2))


def _answer(status: int, code: int, message: str = "m", data: Any = None,
            headers: dict[str, str] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"code": code, "message": message,
                                            "request_id": "r", "data": data}, headers=headers)
    return handler


@pytest.mark.parametrize(("status", "code", "error"), [
    (429, 1303, UpstreamBusy),
    (429, 1302, UpstreamBusy),
    (401, 1002, UpstreamChannelError),
    (429, 1102, UpstreamChannelError),
    (403, 1103, UpstreamChannelError),
    (400, 1201, UpstreamRejected),
    (400, 1301, UpstreamRejected),
    (404, 1203, UpstreamNotFound),
    (500, 5000, UpstreamUnavailable),
    (503, 5001, UpstreamUnavailable),
    (504, 5002, UpstreamUnavailable),
])
async def test_error_classes(status: int, code: int, error: type[Exception]) -> None:
    client = _client(_answer(status, code, "upstream says no"))
    with pytest.raises(error) as info:
        await client.create(T2V, {"prompt": "x"})
    assert "upstream says no" in str(info.value)


async def test_busy_honours_retry_after() -> None:
    client = _client(_answer(429, 1303, headers={"Retry-After": "7"}))
    with pytest.raises(UpstreamBusy) as info:
        await client.create(T2V, {})
    assert info.value.retry_after == 7.0


async def test_busy_honours_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.fromtimestamp(time.time() + 60, UTC), usegmt=True)
    client = _client(_answer(429, 1302, headers={"Retry-After": when}))
    with pytest.raises(UpstreamBusy) as info:
        await client.create(T2V, {})
    assert info.value.retry_after is not None and 50 <= info.value.retry_after <= 60


async def test_timeouts_and_drops_are_ambiguous_refusals_are_not() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UpstreamUnavailable) as info:
        await _client(timeout).create(T2V, {})
    assert info.value.ambiguous
    with pytest.raises(UpstreamUnavailable) as info:
        await _client(refused).create(T2V, {})
    assert not info.value.ambiguous
    with pytest.raises(UpstreamUnavailable) as info:
        await _client(_answer(500, 5000)).create(T2V, {})
    assert not info.value.ambiguous


async def test_paths_and_auth_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 0, "message": "SUCCEED", "request_id": "r",
                                         "data": {"task_id": "9", "task_status": "submitted"}})

    client = _client(handler, path_prefix="/kling")
    await client.create(T2V, {"prompt": "x"})
    await client.get(T2V, "9")
    assert seen[0].url == "http://upstream.test/kling/v1/videos/text2video"
    assert seen[1].url == "http://upstream.test/kling/v1/videos/text2video/9"
    assert seen[0].headers["authorization"] == "Bearer k"


def test_task_mapping() -> None:
    task = UpstreamTask.from_wire({
        "task_id": 866889456698785798, "task_status": "succeed", "task_status_msg": "",
        "task_info": {"external_task_id": "ours"}, "created_at": 1, "updated_at": "2",
        "task_result": {"videos": [{"id": "v", "url": "https://x/v.mp4", "duration": "5.1"}]},
        "progress": 100, "final_unit_deduction": "1",
    })
    assert task.task_id == "866889456698785798" and task.terminal
    assert task.external_task_id == "ours" and task.updated_at == 2
    assert task.videos[0]["duration"] == "5.1" and task.progress == 100.0
    failed = UpstreamTask.from_wire({"task_id": "1", "task_status": "failed",
                                     "task_status_msg": "policy", "task_result": {}})
    assert failed.terminal and failed.status_msg == "policy" and failed.videos == []
    with pytest.raises(ValueError):
        UpstreamTask.from_wire({"code": 0})


def test_options_short_form_and_validation() -> None:
    opts = KlingOptions.parse({"api_key": "s", "path_prefix": "kling", "models": "kling-v1, x"})
    [channel] = opts.channels
    assert channel.name == "default" and channel.path_prefix == "/kling"
    assert channel.models == ["kling-v1", "x"]
    assert channel.base_url == "https://api-singapore.klingai.com"
    with pytest.raises(ValueError, match="either"):
        KlingOptions.parse({"channels": [{"name": "a"}]})
    with pytest.raises(ValueError) as info:
        KlingOptions.parse({"channels": [{"name": "a", "access_key": "ak",
                                          "secret_key": "TOPSECRET", "api_key": "KEYSECRET"}]})
    assert "TOPSECRET" not in str(info.value) and "KEYSECRET" not in str(info.value)
    with pytest.raises(ValueError, match="unique"):
        KlingOptions.parse({"channels": [{"name": "a", "api_key": "k"},
                                         {"name": "a", "api_key": "k"}]})


def _pool(*channels: dict[str, Any]) -> ChannelPool:
    http = httpx.AsyncClient()
    gate = asyncio.Semaphore(1)
    return ChannelPool(
        Channel(o, UpstreamClient(o, http, gate, gate))
        for o in (ChannelOptions(api_key="k", **c) for c in channels)
    )


def test_channel_choice_priority_weight_slots_and_models() -> None:
    pool = _pool({"name": "main", "priority": 10, "max_concurrency": 1},
                 {"name": "spare", "priority": 0, "max_concurrency": 1},
                 {"name": "v2", "priority": 20, "models": ["kling-v2-master"]})
    pick = pool.pick("kling-v1", T2V)
    assert pick is not None and pick.name == "main"
    pick.acquire()
    second = pool.pick("kling-v1", T2V)
    assert second is not None and second.name == "spare"
    second.acquire()
    assert pool.pick("kling-v1", T2V) is None
    pick.release()
    pool.channels["main"].mark_busy(10.0, None)
    assert pool.pick("kling-v1", T2V) is None
    assert pool.wait_hint("kling-v1", T2V) > 0
    v2 = pool.pick("kling-v2-master", T2V)
    assert v2 is not None and v2.name == "v2"


def test_weights_share_a_priority_tier() -> None:
    pool = _pool({"name": "heavy", "weight": 9, "max_concurrency": 10_000},
                 {"name": "light", "weight": 1, "max_concurrency": 10_000})
    picks = [pool.pick("kling-v1", T2V) for _ in range(2000)]
    heavy = sum(1 for p in picks if p is not None and p.name == "heavy")
    assert 1500 < heavy < 1950


def test_video_sniffing() -> None:
    assert looks_like_video(b"\x00\x00\x00\x18ftypmp42")
    assert looks_like_video(b"\x1a\x45\xdf\xa3rest")
    assert not looks_like_video(b"<!doctype html>")


# --- video downloads stay out of private networks (review finding) -------------------------


def _mock_client(routes: dict[str, httpx.Response]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/v.mp4", "http://169.254.169.254/latest",
                                 "http://10.1.2.3/v.mp4", "file:///etc/passwd"])
async def test_download_refuses_private_hosts_that_are_not_channels(
    url: str, tmp_path: Path
) -> None:
    async with _mock_client({}) as http:
        with pytest.raises(RehostError, match="refusing to download"):
            await download(http, url, tmp_path / "v", max_bytes=10_000, time_limit=5)


async def test_download_checks_every_redirect_hop(tmp_path: Path) -> None:
    routes = {
        "http://upstream.test/v.mp4": httpx.Response(
            302, headers={"location": "http://10.0.0.7/internal"}),
    }
    async with _mock_client(routes) as http:
        with pytest.raises(RehostError, match="refusing to download"):
            await download(http, "http://upstream.test/v.mp4", tmp_path / "v",
                           max_bytes=10_000, time_limit=5,
                           trusted_hosts=frozenset({"upstream.test"}))


async def test_download_from_a_channel_host_follows_its_redirects(tmp_path: Path) -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
    routes = {
        "http://upstream.test/v.mp4": httpx.Response(302, headers={"location": "/real.mp4"}),
        "http://upstream.test/real.mp4": httpx.Response(
            200, content=video, headers={"content-type": "video/mp4"}),
    }
    async with _mock_client(routes) as http:
        stored_as = await download(http, "http://upstream.test/v.mp4", tmp_path / "v",
                                   max_bytes=10_000, time_limit=5,
                                   trusted_hosts=frozenset({"upstream.test"}))
    assert stored_as == ("mp4", "video/mp4") and (tmp_path / "v").read_bytes() == video
