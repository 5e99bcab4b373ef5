"""Property tests of the create route, in process: any body the published schema allows is
answered 200 or a Kling 4xx (never a 5xx), in the envelope, and what was accepted is stored
as sent, with the contract's defaults for what was left out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from openkling.api.app import create_app
from openkling.api.services import ApiServices
from openkling.assembly import Resources
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.secrets import hash_api_key
from tests.conftest import PROVIDER_DOUBLE

API_KEY = "ok-property-tests-key"
KLING_MODELS = ["kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master",
                "kling-v2-5-turbo", "kling-v2-6", "kling-v3"]
AXES = ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"]
KLING_4XX = {(400, 1200), (400, 1201)}

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
long_text = st.integers(2495, 2505).map(lambda n: "x" * n)
camera_config = st.dictionaries(st.sampled_from(AXES),
                                st.floats(-10, 10, allow_nan=False) | st.integers(-10, 10),
                                max_size=3)
camera_control = st.one_of(
    st.none(),
    st.builds(lambda t: {"type": t}, st.sampled_from(
        ["down_back", "forward_up", "right_turn_forward", "left_turn_forward"])),
    st.builds(lambda c: {"type": "simple", "config": c}, camera_config),
)
# Every field as the published Text2VideoRequest schema types it; absent keys stay absent.
bodies = st.fixed_dictionaries(
    {"prompt": text | long_text},
    optional={
        "model_name": st.none() | st.sampled_from(KLING_MODELS),
        "negative_prompt": st.none() | text | long_text,
        "cfg_scale": st.none() | st.floats(0, 1) | st.sampled_from([0, 1]),
        "mode": st.none() | st.sampled_from(["std", "pro"]),
        "aspect_ratio": st.none() | st.sampled_from(["16:9", "9:16", "1:1"]),
        "duration": st.none() | st.integers(0, 20).map(str) | text,
        "camera_control": camera_control,
        "callback_url": st.none() | st.just("") | st.just("http://127.0.0.1:9/hook") | text,
        "external_task_id": st.none() | text,
    },
)


async def add_key(settings: Settings) -> int:
    runtime = Resources.open(settings)
    try:
        await runtime.migrate()
        account, _ = await runtime.accounts.get_or_create(
            "props", now=1, callback_secret_enc=runtime.master.encrypt("whsec_x"))
        await runtime.accounts.add_credential(
            account.id, label="props", api_key_hash=hash_api_key(API_KEY), api_key_hint="ok-",
            access_key="AKPROPS", secret_key_enc=runtime.master.encrypt("s" * 32), now=1)
        return account.id
    finally:
        await runtime.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, int]]:
    data_dir: Path = tmp_path_factory.mktemp("props")
    config = Settings(data_dir=data_dir, provider=PROVIDER_DOUBLE, embedded_worker=False,
                      allow_private_callbacks=True, rate_limit_per_second=1e6,
                      rate_limit_burst=1_000_000, max_unfinished_tasks=1_000_000)
    account_id = asyncio.run(add_key(config))
    with TestClient(create_app(config)) as client:
        client.headers["Authorization"] = f"Bearer {API_KEY}"
        yield client, account_id


def expected_stored(body: dict[str, Any]) -> dict[str, Any]:
    """The stored request by the contract's table: the caller's values, else the defaults."""
    def given(field: str, default: Any) -> Any:
        value = body.get(field)
        return default if value is None or value == "" else value

    return {
        "model_name": given("model_name", "kling-v1"),
        "prompt": body["prompt"],
        "negative_prompt": given("negative_prompt", None),
        "cfg_scale": given("cfg_scale", 0.5),
        "mode": given("mode", "std"),
        "aspect_ratio": given("aspect_ratio", "16:9"),
        "duration": int(given("duration", "5")),
        "camera_control": body.get("camera_control"),
    }


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies)
def test_any_schema_valid_body_gets_200_or_a_kling_4xx(api: tuple[TestClient, int],
                                                      body: dict[str, Any]) -> None:
    client, account_id = api
    response = client.post("/v1/videos/text2video", json=body)
    event(f"HTTP {response.status_code}")
    envelope = response.json()
    assert set(envelope) == {"code", "message", "request_id", "data"}
    assert envelope["request_id"] == response.headers["x-request-id"]
    if response.status_code != 200:
        assert (response.status_code, envelope["code"]) in KLING_4XX, envelope
        assert envelope["data"] is None
        field = envelope["message"].split(":", 1)[0].split(".")[0]
        assert field in body or field == "request", envelope["message"]
        return
    assert (envelope["code"], envelope["message"]) == (0, "SUCCEED")
    task = envelope["data"]
    external = body.get("external_task_id") or None
    assert task["task_status"] == "submitted"
    assert task["task_info"] == ({"external_task_id": external} if external else {})
    record = client.portal.call(_stored_task, client, account_id, task["task_id"])
    expected = expected_stored(body)
    camera = record.request["camera_control"]
    if camera is not None and "config" in camera:  # every axis is stored, 0 when not given
        assert camera["config"] == {axis: body["camera_control"]["config"].get(axis, 0)
                                    for axis in AXES}
        expected["camera_control"] = camera
    assert record.request == expected
    assert record.callback_url == (body.get("callback_url") or None)
    if external:
        # The query-string lookup carries any string (the client percent-encodes it).
        again = client.get("/v1/videos/text2video",
                           params={"external_task_id": external}).json()["data"]
        assert again["task_id"] == task["task_id"]


async def _stored_task(client: TestClient, account_id: int, task_id: str) -> Any:
    services: ApiServices = client.app.state.services  # type: ignore[attr-defined]
    return await services.tasks.get(Principal(account_id, "props", 0), task_id)
