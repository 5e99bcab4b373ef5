"""/docs and /redoc work offline: their pages load assets from this server only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from openkling.api.app import create_app
from openkling.config import Settings


class _AssetURLs(HTMLParser):
    """Every URL a page makes the browser load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {"script": "src", "link": "href", "img": "src"}
        wanted = names.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def asset_urls(html: str) -> list[str]:
    parser = _AssetURLs()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path))


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The docs pages need no runtime, so the app is served without its lifespan.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(("page", "expected_assets"), [
    ("/docs", {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"}),
    ("/redoc", {"/docs/assets/redoc.standalone.js"}),
])
async def test_pages_load_only_local_assets(
    http: httpx.AsyncClient, page: str, expected_assets: set[str]
) -> None:
    response = await http.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = asset_urls(response.text)
    assert expected_assets <= set(urls)
    assert [url for url in urls if not url.startswith("/")] == []
    assert "googleapis" not in response.text and "cdn." not in response.text
    assert "/openapi.json" in response.text


@pytest.mark.parametrize(("path", "content_type", "marker"), [
    ("/docs/assets/swagger-ui-bundle.js", "text/javascript", b"SwaggerUIBundle"),
    ("/docs/assets/swagger-ui.css", "text/css", b".swagger-ui"),
    ("/docs/assets/redoc.standalone.js", "text/javascript", b"Redoc"),
    ("/docs/assets/favicon.png", "image/png", b"\x89PNG"),
])
async def test_assets_are_served(
    http: httpx.AsyncClient, path: str, content_type: str, marker: bytes
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert marker in response.content


async def test_one_docs_page_each_and_no_cdn_default_left(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    docs_routes = [route for route in app.routes
                   if getattr(route, "path", None) in ("/docs", "/redoc")]
    assert len(docs_routes) == 2
    assert (await http.get("/docs/oauth2-redirect")).status_code == 200
    assert (await http.get("/docs/assets/nope.js")).status_code == 404
