"""`openkling serve` with a model this host cannot run (weights not cached, hub offline): said
at once and loudly — one ERROR with the reason and the fix, readiness 503 naming the
provider, creates 503 / 5001 with the reason — instead of every task failing later."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory


def test_uncached_weights_offline_are_reported_at_start(server_factory: ServerFactory) -> None:
    server = server_factory(
        {"OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"},
        provider="diffusers", ready=False,
    )
    creds = server.create_key("operator")
    errors = [line for line in server.log().splitlines()
              if " ERROR " in line and "cannot work on this host" in line]
    assert len(errors) == 1, server.log()
    assert "OPENKLING_PROVIDER=kling" in errors[0]

    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["providers"]["diffusers"].startswith("failed: ")

    created = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                         json={"prompt": "a cat"})
    assert created.status_code == 503
    body = created.json()
    assert body["code"] == 5001 and "unavailable on this server: " in body["message"]
