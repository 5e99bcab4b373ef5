"""Which requests `openkling serve` answers below ASGI as polls (`api/http_protocol.py` asks
the application's `poll_for`, found under uvicorn's wrappers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from openkling.api.app import OpenKlingApp, create_app
from openkling.api.fastpath import poll_key
from openkling.api.http_protocol import _find_poller
from openkling.config import Settings

pytestmark = pytest.mark.unit


def scope(path: str, method: str = "GET", query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query,
            "headers": []}


@pytest.fixture
def app(tmp_path: Path) -> OpenKlingApp:
    built = create_app(Settings(data_dir=tmp_path))
    assert isinstance(built, OpenKlingApp)
    return built


def test_the_protocol_finds_the_application_under_uvicorns_wrappers(app: OpenKlingApp) -> None:
    wrapped = ProxyHeadersMiddleware(ProxyHeadersMiddleware(app))  # type: ignore[arg-type]
    assert _find_poller(wrapped) == app.poll_for
    assert _find_poller(object()) is None  # another application: every request goes to ASGI


def test_no_poll_is_answered_before_the_lifespan_has_built_the_services(
    app: OpenKlingApp,
) -> None:
    assert app.poll_for(scope("/v1/videos/text2video/1")) is None


@pytest.mark.parametrize(("path", "family", "task_key", "route"), [
    ("/v1/videos/text2video/123", "videos/text2video", "123", "/v1/videos/text2video/{task_id}"),
    ("/kling/v1/videos/image2video/my-ext-id", "videos/image2video", "my-ext-id",
     "/kling/v1/videos/image2video/{task_id}"),
    ("/v1/images/editing/expand/9", "images/editing/expand", "9",
     "/v1/images/editing/expand/{task_id}"),
])
def test_a_plain_get_of_a_family_task_is_a_poll(path: str, family: str, task_key: str,
                                                 route: str) -> None:
    poll = poll_key(scope(path))
    assert poll is not None
    assert (poll.family, poll.task_key, poll.route) == (family, task_key, route)


@pytest.mark.parametrize("request_scope", [
    scope("/v1/videos/text2video/"),  # no task key: the list route
    scope("/v1/videos/text2video"),
    scope("/v1/videos/text2video/1", method="HEAD"),
    scope("/v1/videos/text2video/1", method="POST"),
    scope("/v1/videos/text2video/1", query=b"pageNum=1"),
    scope("/v1/videos/unknown-family/1"),
    scope("/v2/videos/text2video/1"),
    scope("/v1/videos/text2video/1/extra"),
    {"type": "websocket", "path": "/v1/videos/text2video/1"},
])
def test_anything_else_is_no_poll(request_scope: dict[str, Any]) -> None:
    assert poll_key(request_scope) is None
