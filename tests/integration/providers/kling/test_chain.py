"""End to end through real servers: a relay in front of another openkling, and a crash test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory, wait_for_status
from tests.doubles.kling_simulator import KlingSimulatorDouble, RunningSimulator
from tests.integration.providers.kling.conftest import AK, SK

pytestmark = pytest.mark.slow

FAST_TRACKING = {
    "OPENKLING_PROVIDER_OPTIONS__KLING__FIRST_POLL_AFTER": "0.2",
    "OPENKLING_PROVIDER_OPTIONS__KLING__MAX_POLL_INTERVAL": "0.5",
    "OPENKLING_PROVIDER_OPTIONS__KLING__LIST_INTERVAL": "0.3",
}
PATH = "/kling/v1/videos/text2video"


UPSTREAM_KINDS = {
    # B with the provider double, and B generating for real with the tiny local model.
    "double": ({}, "tests.doubles.provider:ProviderDouble"),
    "tiny-wan": ({"OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan"},
                 "diffusers"),
}


@pytest.mark.parametrize("upstream_kind", list(UPSTREAM_KINDS))
async def test_openkling_relays_to_another_openkling(
    server_factory: ServerFactory, upstream_kind: str
) -> None:
    env, provider = UPSTREAM_KINDS[upstream_kind]
    upstream = server_factory(env, provider=provider, name="b")
    upstream_key = upstream.create_key("relay-account")
    relay = server_factory(
        {
            "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": upstream.base_url,
            "OPENKLING_PROVIDER_OPTIONS__KLING__PATH_PREFIX": "/kling",
            "OPENKLING_PROVIDER_OPTIONS__KLING__API_KEY": upstream_key.api_key,
            **FAST_TRACKING,
        },
        provider="kling", name="a",
    )
    client_key = relay.create_key("client")
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=30) as http:
        created = await http.post(PATH, headers=client_key.headers, json={
            "model_name": "kling-v1", "prompt": "a lighthouse at dusk", "duration": "5",
            "aspect_ratio": "1:1", "external_task_id": "client-order-7",
        })
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        done = await wait_for_status(http, f"{PATH}/{task_id}", client_key.headers,
                                     {"succeed", "failed"}, timeout=120)
        assert done["task_status"] == "succeed", done
        assert done["task_id"] == task_id
        assert done["task_info"] == {"external_task_id": "client-order-7"}
        result: Any = done["task_result"]
        [video] = result["videos"]
        assert video["url"].startswith(relay.base_url)  # re-hosted by A, not B's link
        body = (await http.get(video["url"])).content
        assert body[4:8] == b"ftyp"

    async with httpx.AsyncClient(base_url=upstream.base_url, timeout=30) as http:
        seen = (await http.get(f"{PATH}/{task_id}", headers=upstream_key.headers)).json()
        # B knows the task by A's id as its external id, under B's own task id
        assert seen["code"] == 0, seen
        assert seen["data"]["task_info"]["external_task_id"] == task_id
        assert seen["data"]["task_id"] != task_id
        listed = (await http.get(PATH, params={"pageSize": 50},
                                 headers=upstream_key.headers)).json()["data"]
        assert len(listed) == 1  # exactly one upstream task for one relayed task


@pytest.fixture
def slow_simulator() -> Iterator[RunningSimulator]:
    sim = KlingSimulatorDouble(access_keys={AK: SK}, concurrency_limit=5,
                               processing_after=0.5, finish_after=2.0, slow_seconds=3.0)
    running = RunningSimulator(sim).start()
    yield running
    running.stop()


async def test_worker_killed_after_submit_does_not_submit_twice(
        server_factory: ServerFactory, slow_simulator: RunningSimulator) -> None:
    sim = slow_simulator.sim
    sim.faults.create.append("slow-after")  # the submit lands; its answer is late
    relay = server_factory(
        {
            "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": slow_simulator.base_url,
            "OPENKLING_PROVIDER_OPTIONS__KLING__ACCESS_KEY": AK,
            "OPENKLING_PROVIDER_OPTIONS__KLING__SECRET_KEY": SK,
            "OPENKLING_LEASE_SECONDS": "2",
            "OPENKLING_HEARTBEAT_SECONDS": "0.5",
            **FAST_TRACKING,
        },
        provider="kling", name="relay",
    )
    key = relay.create_key("client")
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=30) as http:
        created = await http.post(PATH, headers=key.headers,
                                  json={"model_name": "kling-v1", "prompt": "a red kite"})
        task_id = created.json()["data"]["task_id"]
        deadline = time.monotonic() + 30
        while sim.submits[task_id] == 0:
            assert time.monotonic() < deadline, "the relay never submitted"
            time.sleep(0.02)
        relay.kill()  # dies while the upstream answer is still on its way
        relay.start()
        done = await wait_for_status(http, f"{PATH}/{task_id}", key.headers,
                                     {"succeed", "failed"}, timeout=60)
    assert done["task_status"] == "succeed", (done, relay.log())
    assert sim.submits[task_id] == 1
    assert [t for t in sim.order if t.external_task_id == task_id] != []
    assert len(sim.tasks) == 1
    assert "adopting upstream task" in relay.log()


async def test_upstream_callbacks_finish_tasks_without_polling(
        server_factory: ServerFactory, slow_simulator: RunningSimulator) -> None:
    sim = slow_simulator.sim
    relay = server_factory(
        {
            "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": slow_simulator.base_url,
            "OPENKLING_PROVIDER_OPTIONS__KLING__ACCESS_KEY": AK,
            "OPENKLING_PROVIDER_OPTIONS__KLING__SECRET_KEY": SK,
            # polling so slow that only a callback can finish the task in time
            "OPENKLING_PROVIDER_OPTIONS__KLING__FIRST_POLL_AFTER": "120",
            "OPENKLING_PROVIDER_OPTIONS__KLING__MAX_POLL_INTERVAL": "120",
            "OPENKLING_PROVIDER_OPTIONS__KLING__LIST_INTERVAL": "120",
        },
        provider="kling", name="relay",
    )
    relay.env["OPENKLING_PUBLIC_URL"] = relay.base_url
    relay.restart()
    key = relay.create_key("client")
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=30) as http:
        created = await http.post(PATH, headers=key.headers,
                                  json={"model_name": "kling-v1", "prompt": "a paper boat"})
        task_id = created.json()["data"]["task_id"]
        done = await wait_for_status(http, f"{PATH}/{task_id}", key.headers,
                                     {"succeed", "failed"}, timeout=40)
        assert done["task_status"] == "succeed"
        [upstream] = sim.tasks.values()
        assert upstream.callback_url is not None
        assert upstream.callback_url.startswith(f"{relay.base_url}/upstream/kling/{task_id}/")
        assert (upstream.task_id, "succeed") in sim.callbacks_sent

        # the token in the path is the only credential: a wrong one is not found
        forged = await http.post(f"/upstream/kling/{task_id}/not-the-token",
                                 json={"task_status": "failed"})
        assert forged.status_code == 404
        assert forged.json()["code"] == 1203
        unknown = await http.post("/upstream/kling/1234/whatever", json={})
        assert unknown.status_code == 404
