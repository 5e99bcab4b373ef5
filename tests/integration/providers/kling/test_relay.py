"""The relay against the simulator double: submit, track, map, rehost, retry, fail over."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.core.provider import ProviderError, TransientProviderError
from tests.doubles.kling_simulator import RunningSimulator
from tests.integration.providers.kling.conftest import (
    AK,
    SK,
    STATIC_KEY,
    jwt_channel,
    key_channel,
    spec_for,
)


async def test_jwt_channel_relays_and_rehosts(simulator: RunningSimulator, make_provider: Any,
                                              new_task: Any, mp4_bytes: bytes) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    result = await provider.run(spec_for(task), task.context())

    sim = simulator.sim
    assert sim.submits[task.task_id] == 1
    upstream = sim.by_external[(f"ak:{AK}", task.task_id)]
    assert task.state["upstream_task_id"] == upstream.task_id
    assert task.state["channel"] == "ak"
    assert upstream.task_id != task.task_id
    [video] = result.videos
    assert video.url is None and video.storage_key is not None
    assert video.duration == 5.0
    assert (task.storage.root / video.storage_key).read_bytes() == mp4_bytes
    assert task.reports  # processing was reported before the end
    assert sim.auth_failures == []


async def test_static_key_prefix_channel_hands_out_upstream_url(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([key_channel(simulator)], rehost=False)
    task = new_task()
    result = await provider.run(spec_for(task), task.context())
    [video] = result.videos
    assert video.storage_key is None
    assert video.url is not None and video.url.startswith(simulator.base_url + "/files/")
    assert simulator.sim.requests["download"] == 0


async def test_every_field_is_passed_through(simulator: RunningSimulator, make_provider: Any,
                                             new_task: Any) -> None:
    provider = await make_provider([key_channel(simulator)], rehost=False)
    task = new_task()
    spec = spec_for(task)
    spec = type(spec)(**{**spec.__dict__, "negative_prompt": "blur",
                         "camera_control": {"type": "simple", "config": {"zoom": 5.0}}})
    await provider.run(spec, task.context())
    [seen] = simulator.sim.create_bodies
    assert seen == {**spec.request_fields(), "external_task_id": task.task_id}
    assert seen["negative_prompt"] == "blur"
    assert seen["camera_control"]["config"]["zoom"] == 5.0
    assert simulator.sim.create_paths == ["videos/text2video"]


async def test_failed_upstream_task_fails_with_its_message(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    with pytest.raises(ProviderError, match="risk control"):
        await provider.run(spec_for(task, "a scene [fail]"), task.context())


async def test_parameter_error_fails_with_upstream_message(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    with pytest.raises(ProviderError, match="content policy"):
        await provider.run(spec_for(task, "[reject] something"), task.context())
    assert task.state.get("tried") == []


async def test_unknown_model_is_rejected_at_create_time(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator, models=["kling-v1"])])
    provider.check(spec_for(new_task(), model="kling-v1"))
    with pytest.raises(KlingError) as err:
        provider.check(spec_for(new_task(), model="kling-v2-master"))
    assert err.value.code == 1201 and "model_name" in err.value.message


async def test_busy_account_backs_off_and_waits_in_queue(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.concurrency_limit = 1
    provider = await make_provider([jwt_channel(simulator, max_concurrency=5)])
    first, second = new_task(), new_task()
    running = asyncio.create_task(provider.run(spec_for(first), first.context()))
    await asyncio.sleep(0)
    while "upstream_task_id" not in first.state:
        await asyncio.sleep(0.01)
    with pytest.raises(TransientProviderError) as err:
        await provider.run(spec_for(second), second.context())
    assert err.value.count_attempt is False and err.value.retry_after is not None
    assert "limit" in str(err.value)
    await running
    # once the upstream slot is free again, the waiting task goes through
    await asyncio.sleep(0.4)
    result = await provider.run(spec_for(second), second.context())
    assert len(result.videos) == 1
    assert simulator.sim.submits[second.task_id] == 2  # refused once (1303), then accepted


async def test_local_slot_limit_keeps_task_waiting_without_calling_upstream(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator, max_concurrency=1)])
    first, second = new_task(), new_task()
    running = asyncio.create_task(provider.run(spec_for(first), first.context()))
    while "upstream_task_id" not in first.state:
        await asyncio.sleep(0.01)
    with pytest.raises(TransientProviderError) as err:
        await provider.run(spec_for(second), second.context())
    assert err.value.count_attempt is False
    assert simulator.sim.submits[second.task_id] == 0
    await running


async def test_rate_limit_1302_backs_off_then_succeeds(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.faults.create.extend(["429"])
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    with pytest.raises(TransientProviderError) as err:
        await provider.run(spec_for(task), task.context())
    assert err.value.count_attempt is False
    await asyncio.sleep(0.2)
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1


async def test_5xx_is_retried_on_the_same_channel(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.faults.create.extend(["500", "503"])
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert simulator.sim.requests["create"] == 3
    assert simulator.sim.submits[task.task_id] == 1


async def test_persistent_5xx_fails_over_to_another_channel(
        simulator: RunningSimulator, second_simulator: RunningSimulator, make_provider: Any,
        new_task: Any) -> None:
    simulator.sim.faults.create.extend(["500"] * 10)
    provider = await make_provider(
        [jwt_channel(simulator, priority=10), key_channel(second_simulator, priority=0)],
        submit_retries=2,
    )
    task = new_task()
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert task.state["channel"] == "gw"
    assert simulator.sim.requests["create"] == 3
    assert simulator.sim.tasks == {}
    assert second_simulator.sim.submits[task.task_id] == 1


async def test_unreachable_channel_fails_over(
        second_simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    dead = {"name": "dead", "base_url": "http://127.0.0.1:9", "api_key": "x",
            "priority": 5, "timeout": 0.5}
    provider = await make_provider([dead, key_channel(second_simulator)])
    task = new_task()
    await provider.run(spec_for(task), task.context())
    assert task.state["channel"] == "gw"
    assert task.state["tried"] == ["gw"]


async def test_timeout_on_create_is_not_repeated_when_it_landed(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.faults.create.append("drop-after")
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1
    assert len(simulator.sim.tasks) == 1


async def test_dropped_connection_before_create_is_retried(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.faults.create.extend(["drop", "timeout"])
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1


async def test_ambiguous_create_with_unreachable_upstream_does_not_fail_over(
        simulator: RunningSimulator, second_simulator: RunningSimulator, make_provider: Any,
        new_task: Any) -> None:
    """A create that may have landed is never repeated elsewhere before it is checked."""
    simulator.sim.faults.create.append("drop-after")
    simulator.sim.faults.query.append("500")
    provider = await make_provider(
        [jwt_channel(simulator, priority=10), key_channel(second_simulator)])
    task = new_task()
    with pytest.raises(TransientProviderError):
        await provider.run(spec_for(task), task.context())
    assert task.state["tried"] == ["ak"]
    assert second_simulator.sim.submits[task.task_id] == 0
    # the retry finds the task that did land and adopts it
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1
    assert second_simulator.sim.submits[task.task_id] == 0


async def test_ambiguous_then_plain_failures_never_fail_over(
        simulator: RunningSimulator, second_simulator: RunningSimulator, make_provider: Any,
        new_task: Any) -> None:
    """Review finding: a 504 (may have landed) followed by plain 503s must not make the relay
    submit on another channel: the first channel is asked again on the next attempt."""
    simulator.sim.faults.create.extend(["timeout", "503", "503"])
    provider = await make_provider(
        [jwt_channel(simulator, priority=10), key_channel(second_simulator)],
        submit_retries=2,
    )
    task = new_task()
    with pytest.raises(TransientProviderError):
        await provider.run(spec_for(task), task.context())
    assert task.state["tried"] == ["ak"]
    assert second_simulator.sim.submits[task.task_id] == 0
    result = await provider.run(spec_for(task), task.context())  # the next attempt
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1
    assert second_simulator.sim.submits[task.task_id] == 0


async def test_retry_after_crash_adopts_instead_of_resubmitting(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    """The worker died after the submit, before it could save the upstream id."""
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    body = {**spec_for(task).request_fields(), "external_task_id": task.task_id}
    await provider.pool.channels["ak"].client.create("videos/text2video", body)
    task.state = {"channel": "ak", "tried": ["ak"]}  # saved before the (lost) submit
    result = await provider.run(spec_for(task), task.context())
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1
    assert task.state["upstream_task_id"] == next(iter(simulator.sim.tasks))


async def test_retry_with_saved_upstream_id_only_tracks(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    await provider.run(spec_for(task), task.context())
    result = await provider.run(spec_for(task), task.context())  # e.g. lease lost at the end
    assert len(result.videos) == 1
    assert simulator.sim.submits[task.task_id] == 1


async def test_rehost_rejects_non_video(simulator: RunningSimulator, make_provider: Any,
                                        new_task: Any) -> None:
    simulator.sim.video = b"<html>expired</html>"
    simulator.sim.video_content_type = "text/html"
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    with pytest.raises(ProviderError, match="not a video"):
        await provider.run(spec_for(task), task.context())


async def test_rehost_rejects_bytes_without_video_header(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.video = b"\x00" * 4096
    simulator.sim.video_content_type = "application/octet-stream"
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    with pytest.raises(ProviderError, match="not a video"):
        await provider.run(spec_for(task), task.context())
    assert not list(task.storage.root.rglob("*.mp4")) if task.storage.root.exists() else True


async def test_rehost_enforces_size_limit(simulator: RunningSimulator, make_provider: Any,
                                          new_task: Any, mp4_bytes: bytes) -> None:
    provider = await make_provider([jwt_channel(simulator)],
                                   max_download_bytes=len(mp4_bytes) - 1)
    task = new_task()
    with pytest.raises(ProviderError, match="larger than"):
        await provider.run(spec_for(task), task.context())


async def test_wrong_secret_fails_over_and_never_leaks(
        simulator: RunningSimulator, second_simulator: RunningSimulator, make_provider: Any,
        new_task: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = {**jwt_channel(simulator, priority=10), "secret_key": "wrong-" + SK}
    provider = await make_provider([bad, key_channel(second_simulator)])
    task = new_task()
    await provider.run(spec_for(task), task.context())
    assert task.state["channel"] == "gw"
    assert simulator.sim.auth_failures == [1002]
    assert SK not in caplog.text and STATIC_KEY not in caplog.text
    assert "Bearer" not in caplog.text


async def test_all_channels_failing_reports_without_secrets(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    bad = {**jwt_channel(simulator), "secret_key": "wrong-" + SK}
    provider = await make_provider([bad])
    task = new_task()
    with pytest.raises(TransientProviderError) as err:
        await provider.run(spec_for(task), task.context())
    text = str(err.value)
    assert "ak" in text and "1002" in text
    assert SK not in text and "wrong-" not in text
    assert SK not in repr(provider.options)


async def test_cancellation_stops_tracking(simulator: RunningSimulator, make_provider: Any,
                                           new_task: Any) -> None:
    from openkling.core.provider import TaskCancelled

    simulator.sim.finish_after = 30
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    ctx = task.context()
    running = asyncio.create_task(provider.run(spec_for(task), ctx))
    while "upstream_task_id" not in task.state:
        await asyncio.sleep(0.01)
    ctx.cancelled.set()
    with pytest.raises(TaskCancelled):
        await running
    assert provider.tracker.size == 0
    assert provider.pool.channels["ak"].inflight == 0


async def test_many_tasks_tracked_by_list_sweeps(simulator: RunningSimulator,
                                                  make_provider: Any, new_task: Any) -> None:
    simulator.sim.concurrency_limit = 100
    simulator.sim.finish_after = 1.0
    provider = await make_provider([jwt_channel(simulator, max_concurrency=100)],
                                   rehost=False, first_poll_after=0.5, max_poll_interval=2.0)
    tasks = [new_task() for _ in range(40)]
    results = await asyncio.gather(*(provider.run(spec_for(t), t.context()) for t in tasks))
    assert all(len(r.videos) == 1 for r in results)
    requests = simulator.sim.requests
    assert requests["list"] > 0
    # sweeps did most of the work: far fewer single queries than one per task per poll
    assert requests["get"] < 40 * 3
