"""Readiness while a provider loads: `/readyz` is 503 naming the provider `loading` until a
created task can run, `ready` after; a model that cannot load is `failed` with its cause,
logged once, and its tasks wait instead of failing one by one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.conftest import PROVIDER_DOUBLE, ServerFactory, ServerHandle
from tests.integration.api.test_admin_routes import admin_key
from tests.integration.api.test_metrics import samples


def readiness(server: ServerHandle) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"{server.base_url}/readyz", timeout=10)
    return response.status_code, response.json()["checks"]


def wait_ready(server: ServerHandle, timeout: float = 180) -> list[dict[str, object]]:
    """Poll /readyz until 200; returns every 503 body seen on the way."""
    seen: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while True:
        status, checks = readiness(server)
        if status == 200:
            return seen
        seen.append(checks)
        assert time.monotonic() < deadline, (checks, server.log()[-3000:])
        time.sleep(0.2)


def provider_state(server: ServerHandle, provider: str) -> str:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    states = [labels["state"] for labels, value in samples(text)["openkling_provider_state"]
              if labels["provider"] == provider and value == 1]
    assert len(states) == 1, states
    return states[0]


def console_state(server: ServerHandle, admin: dict[str, str], provider: str) -> str:
    """What the console's system page shows for `provider` (GET /admin/v1/system)."""
    data = httpx.get(f"{server.base_url}/admin/v1/system", headers=admin,
                     timeout=10).json()["data"]
    return next(str(p["state"]) for p in data["providers"] if p["name"] == provider)


def test_a_loading_provider_keeps_readiness_503_until_it_is_ready(
    server_factory: ServerFactory, tmp_path: Path,
) -> None:
    gate = tmp_path / "loaded"
    server = server_factory({"OPENKLING_DOUBLE_LOAD_GATE": str(gate)}, ready=False)
    creds = server.create_key("loading")
    admin = admin_key(server).headers

    status, checks = readiness(server)
    assert status == 503
    assert str(checks["providers"][PROVIDER_DOUBLE]).startswith("loading: ")  # type: ignore[index]
    assert console_state(server, admin, PROVIDER_DOUBLE).startswith("loading: ")
    assert PROVIDER_DOUBLE in str(checks["worker"])
    assert provider_state(server, PROVIDER_DOUBLE) == "loading"
    created = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                         json={"prompt": "waits for the model"})
    assert created.status_code == 200
    task_id = created.json()["data"]["task_id"]
    task = httpx.get(f"{server.base_url}/v1/videos/text2video/{task_id}",
                     headers=creds.headers).json()["data"]
    assert task["task_status"] == "submitted"

    gate.touch()
    wait_ready(server, timeout=30)
    status, checks = readiness(server)
    assert status == 200 and checks["providers"] == {PROVIDER_DOUBLE: "ready"}
    assert "worker" not in checks
    assert provider_state(server, PROVIDER_DOUBLE) == "ready"
    assert console_state(server, admin, PROVIDER_DOUBLE) == "ready"
    deadline = time.monotonic() + 30
    while task["task_status"] != "succeed":
        assert time.monotonic() < deadline, task
        time.sleep(0.1)
        task = httpx.get(f"{server.base_url}/v1/videos/text2video/{task_id}",
                         headers=creds.headers).json()["data"]


def test_the_tiny_model_is_loading_then_ready(server_factory: ServerFactory) -> None:
    server = server_factory({
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan",
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
    }, provider="diffusers", ready=False)
    before = wait_ready(server)
    # Every answer before the model process said it was loaded named it loading (the model
    # process imports torch for seconds, so there is at least the first one).
    assert before, "readiness was 200 before the model process could have loaded"
    for checks in before:
        assert str(checks["providers"]["diffusers"]).startswith("loading: "), checks  # type: ignore[index]
    status, checks = readiness(server)
    assert status == 200 and checks["providers"] == {"diffusers": "ready"}
    assert provider_state(server, "diffusers") == "ready"


def test_a_model_that_cannot_load_is_failed_with_its_cause_logged_once(
    server_factory: ServerFactory, tmp_path: Path,
) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    # Passes the start-up check (a pipeline folder), fails in the model process.
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "NoSuchPipeline"}))
    server = server_factory({
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": str(broken),
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
    }, provider="diffusers", ready=False)
    creds = server.create_key("broken")
    deadline = time.monotonic() + 180
    while True:
        status, checks = readiness(server)
        state = str(checks["providers"]["diffusers"])  # type: ignore[index]
        if not state.startswith("loading"):
            break
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)
    assert status == 503
    assert state.startswith(f"failed: could not load model {str(broken)!r}: "), state
    assert "NoSuchPipeline" in state
    assert provider_state(server, "diffusers") == "failed"

    task_id = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                         json={"prompt": "no model to run it"}).json()["data"]["task_id"]
    time.sleep(2)  # several claim turns (poll interval 0.2 s)
    task = httpx.get(f"{server.base_url}/v1/videos/text2video/{task_id}",
                     headers=creds.headers).json()["data"]
    assert task["task_status"] == "submitted"  # waits for a fix, no attempt spent
    errors = [line for line in server.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1, server.log()
    assert "could not load" in errors[0] and "NoSuchPipeline" in errors[0]
