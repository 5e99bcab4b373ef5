"""What the relay sends upstream, checked against the Kling contract (/work/shared/kling-api.md)
with literal bodies, and the submit rules that keep one openkling task = one upstream task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openkling.config import Settings
from openkling.core.models import GenerationSpec
from openkling.core.provider import ProviderError, TransientProviderError
from openkling.providers.kling import KlingProvider
from tests.doubles.kling_simulator import RunningSimulator
from tests.integration.providers.kling.conftest import FAST, jwt_channel, key_channel


def spec(task_id: str, **over: Any) -> GenerationSpec:
    fields: dict[str, Any] = {
        "task_id": task_id, "model_name": "kling-v1", "prompt": "a fox in the snow",
        "negative_prompt": None, "cfg_scale": 0.5, "mode": "std", "aspect_ratio": "16:9",
        "duration": 5,
    }
    fields.update(over)
    return GenerationSpec(**fields)


async def test_every_create_field_reaches_upstream_as_the_contract_spells_it(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([key_channel(simulator)], rehost=False)
    task = new_task()
    camera = {"type": "simple", "config": {"horizontal": 0, "vertical": 0, "pan": 0,
                                           "tilt": 0, "roll": 0, "zoom": 5}}
    full = spec(task.task_id, prompt="a cat on a skateboard", negative_prompt="blur",
                cfg_scale=0.8, mode="pro", aspect_ratio="1:1", duration=10,
                camera_control=camera)
    await provider.run(full, task.context())
    assert simulator.sim.create_bodies == [{
        "model_name": "kling-v1",
        "prompt": "a cat on a skateboard",
        "negative_prompt": "blur",
        "cfg_scale": 0.8,
        "mode": "pro",
        "aspect_ratio": "1:1",
        "duration": "10",  # a string on the wire
        "camera_control": {"type": "simple", "config": {"horizontal": 0, "vertical": 0,
                                                        "pan": 0, "tilt": 0, "roll": 0,
                                                        "zoom": 5}},
        "external_task_id": task.task_id,  # our task id: how a lost submit is found again
    }]


async def test_optional_fields_left_out_are_not_sent(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)], rehost=False)
    task = new_task()
    await provider.run(spec(task.task_id), task.context())
    assert simulator.sim.create_bodies == [{
        "model_name": "kling-v1", "prompt": "a fox in the snow", "cfg_scale": 0.5,
        "mode": "std", "aspect_ratio": "16:9", "duration": "5",
        "external_task_id": task.task_id,
    }]


async def test_with_a_public_url_upstream_calls_back_to_the_relay(
        simulator: RunningSimulator, new_task: Any, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1:9/")
    provider = KlingProvider({"channels": [jwt_channel(simulator)], **FAST, "rehost": False},
                             settings)
    try:
        task = new_task()
        await provider.run(spec(task.task_id), task.context())
    finally:
        await provider.close()
    token = task.state["callback_token"]
    assert isinstance(token, str) and len(token) >= 32
    [body] = simulator.sim.create_bodies
    assert body["callback_url"] == f"http://127.0.0.1:9/upstream/kling/{task.task_id}/{token}"


@pytest.mark.parametrize(("fault", "limit"), [("429", 5), (None, 0)], ids=["1302", "1303"])
async def test_busy_upstream_spends_no_attempt_and_backs_off_a_second_or_more(
        simulator: RunningSimulator, make_provider: Any, new_task: Any,
        fault: str | None, limit: int) -> None:
    if fault:
        simulator.sim.faults.create.append(fault)
    simulator.sim.concurrency_limit = limit
    provider = await make_provider([jwt_channel(simulator)], rehost=False)
    task = new_task()
    with pytest.raises(TransientProviderError) as err:
        await provider.run(spec(task.task_id), task.context())
    assert err.value.count_attempt is False
    assert err.value.retry_after is not None and err.value.retry_after >= 1.0
    assert simulator.sim.requests["create"] == 1  # the busy channel is not asked again
    assert task.state.get("tried") == [] and "upstream_task_id" not in task.state


async def test_a_rejected_create_fails_once_with_the_upstream_message(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator), key_channel(simulator)])
    task = new_task()
    with pytest.raises(ProviderError) as err:
        await provider.run(spec(task.task_id, prompt="[reject] x"), task.context())
    assert not isinstance(err.value, TransientProviderError)
    assert str(err.value) == "prompt violates the content policy"
    assert simulator.sim.requests["create"] == 1  # never resubmitted elsewhere
    assert task.state.get("tried") == []


async def test_a_second_run_after_success_submits_nothing(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)], rehost=False)
    task = new_task()
    first = await provider.run(spec(task.task_id), task.context())
    again = await provider.run(spec(task.task_id), task.context())
    assert simulator.sim.requests["create"] == 1
    assert [v.url for v in again.videos] == [v.url for v in first.videos]
    assert task.state["tried"] == ["ak"] and task.state["channel"] == "ak"
