"""Per-account limits: unfinished tasks (1303) and request rate (1302)."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory


def test_unfinished_task_cap(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_MAX_UNFINISHED_TASKS": "2"})
    erin, frank = server.create_key("erin"), server.create_key("frank")
    url = f"{server.base_url}/v1/videos/text2video"
    for _ in range(2):
        assert httpx.post(url, json={"prompt": "[sleep=20]"}, headers=erin.headers).is_success
    over = httpx.post(url, json={"prompt": "[sleep=20]"}, headers=erin.headers)
    assert over.status_code == 429 and over.json()["code"] == 1303
    assert "at most 2" in over.json()["message"]
    # Another account has its own allowance.
    assert httpx.post(url, json={"prompt": "x"}, headers=frank.headers).is_success


def test_request_rate_limit(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_RATE_LIMIT_PER_SECOND": "0.5",
                             "OPENKLING_RATE_LIMIT_BURST": "3"})
    gina, hank = server.create_key("gina"), server.create_key("hank")
    url = f"{server.base_url}/v1/videos/text2video"
    codes = [httpx.get(url, headers=gina.headers).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    for limited in (httpx.get(url, headers=gina.headers),  # the list route, and the poll
                    httpx.get(f"{url}/123", headers=gina.headers)):  # route's fast path
        assert limited.status_code == 429 and limited.json()["code"] == 1302
        assert int(limited.headers["retry-after"]) >= 1
    assert httpx.get(url, headers=hank.headers).status_code == 200
