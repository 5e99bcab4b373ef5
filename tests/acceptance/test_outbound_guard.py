"""Issue 20 (4): the addresses the old guard let through (192.0.0.0/24, site-local fec0::/10,
IPv4-translated ::ffff:0:a.b.c.d, and others this Python's `ipaddress` calls global) are
refused over HTTP for callbacks and image URLs alike, naming the setting that allows them.
Nothing is sent: each refusal comes from the address alone."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerFactory

OUTSIDE = ["192.0.0.192", "[fec0::1]", "[::ffff:0:7f00:1]", "[5f00::1]", "[3fff::1]",
           "[::8.8.8.8]", "[4000::1]"]


@pytest.mark.slow
def test_callbacks_and_image_urls_to_outside_addresses_are_refused(
    server_factory: ServerFactory,
) -> None:
    server = server_factory({"OPENKLING_ALLOW_PRIVATE_CALLBACKS": "false",
                             "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "false"})
    creds = server.create_key("strict")
    with httpx.Client(base_url=server.base_url, headers=creds.headers) as http:
        for host in OUTSIDE:
            response = http.post("/v1/videos/text2video",
                                 json={"prompt": "x", "callback_url": f"http://{host}/hook"})
            assert response.status_code == 400, (host, response.text)
            body = response.json()
            assert body["code"] == 1201
            assert body["message"].startswith("callback_url: host")
            assert "OPENKLING_ALLOW_PRIVATE_CALLBACKS=true" in body["message"]
            response = http.post("/v1/videos/image2video",
                                 json={"image": f"http://{host}/cat.png", "prompt": "x"})
            assert response.status_code == 400, (host, response.text)
            body = response.json()
            assert body["code"] == 1201
            assert body["message"].startswith("image: host")
            assert "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS=true" in body["message"]
