"""Every task family through the relay against the simulator double: the stored request goes
verbatim to the family's upstream path, input images as the client gave them, and results
(videos or images) are re-hosted; channels serve only the families they declare."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES, IMAGE2VIDEO, IMAGES, TEXT2VIDEO
from openkling.core.loops import Loops
from openkling.core.models import spec_from_stored
from openkling.core.provider import ProviderError, TransientProviderError
from openkling.providers.kling import KlingProvider
from openkling.providers.kling.relay_options import KlingOptions
from tests.doubles.event_source import DyingEventSourceDouble
from tests.doubles.kling_simulator import RunningSimulator
from tests.integration.providers.kling.conftest import AK, TaskRecord, jwt_channel, key_channel

EFFECTS = "videos/effects"


def png(width: int = 400, height: int = 300) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


async def stored_task(task: TaskRecord, kind: str, stored: dict[str, Any],
                      images: dict[str, bytes] | None = None) -> Any:
    """The spec the worker would build from a stored request, with its input images stored
    the way core/service.py stores them."""
    inputs = {}
    for name, data in (images or {}).items():
        key = f"inputs/{task.task_id}/{name}.png"
        await task.storage.put_bytes(key, data, "image/png")
        inputs[name] = {"key": key, "width": 400, "height": 300, "content_type": "image/png"}
    if inputs:
        stored = {**stored, "inputs": inputs}
    return spec_from_stored(task.task_id, stored, {}, kind=kind)


I2V_STORED = {"model_name": "kling-v1", "prompt": "", "negative_prompt": None, "cfg_scale": 0.5,
              "mode": "std", "duration": 5, "static_mask": None, "dynamic_masks": None,
              "camera_control": None}


async def test_image2video_sends_the_stored_image_and_rehosts_the_video(
        simulator: RunningSimulator, make_provider: Any, new_task: Any,
        mp4_bytes: bytes) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    first = png()
    spec = await stored_task(task, IMAGE2VIDEO, I2V_STORED, {"image": first})
    result = await provider.run(spec, task.context())

    sim = simulator.sim
    assert sim.create_paths == [IMAGE2VIDEO]
    assert sim.create_bodies == [{
        "model_name": "kling-v1", "cfg_scale": 0.5, "mode": "std", "duration": "5",
        "image": base64.b64encode(first).decode(), "external_task_id": task.task_id,
    }]
    assert sim.submits[task.task_id] == 1
    [video] = result.videos
    assert video.storage_key is not None and video.storage_key.endswith(".mp4")
    assert (task.storage.root / video.storage_key).read_bytes() == mp4_bytes
    assert result.images == []


async def test_image2video_sends_both_frames_as_base64_of_the_stored_bytes(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    first, last = png(), png(500, 300)
    stored = {**I2V_STORED, "prompt": "leaves fall", "duration": 10}
    spec = await stored_task(task, IMAGE2VIDEO, stored,
                             {"image": first, "image_tail": last})
    await provider.run(spec, task.context())
    [body] = simulator.sim.create_bodies
    assert base64.b64decode(body["image"]) == first
    assert base64.b64decode(body["image_tail"]) == last
    assert body["prompt"] == "leaves fall" and body["duration"] == "10"
    assert "inputs" not in body


async def test_multi_image2video_sends_each_stored_image_back_in_its_object(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    """The stored request keeps image_list's objects without their images (stored apart at
    create); the body upstream has each image where the client sent it, as base64."""
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    first, second = png(), png(320, 480)
    stored = {"model_name": "kling-v1-6", "prompt": "they dance", "duration": 5,
              "image_list": [{"note": "kept"}, {}], "future": {"a": 1}}
    spec = await stored_task(task, "videos/multi-image2video", stored,
                             {"image_list.0.image": first, "image_list.1.image": second})
    await provider.run(spec, task.context())
    [body] = simulator.sim.create_bodies
    assert simulator.sim.create_paths == ["videos/multi-image2video"]
    assert body == {"model_name": "kling-v1-6", "prompt": "they dance", "duration": "5",
                    "future": {"a": 1}, "external_task_id": task.task_id,
                    "image_list": [{"note": "kept", "image": base64.b64encode(first).decode()},
                                   {"image": base64.b64encode(second).decode()}]}
    assert spec.request["image_list"] == [{"note": "kept"}, {}]  # the stored form untouched


async def test_images_generations_rehosts_every_image_as_png(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([key_channel(simulator)])
    task = new_task()
    stored = {"model_name": "kling-v1", "prompt": "a fox", "negative_prompt": None,
              "image_reference": None, "image_fidelity": 0.5, "human_fidelity": None,
              "resolution": "1k", "n": 2, "aspect_ratio": "16:9"}
    spec = await stored_task(task, IMAGES, stored)
    result = await provider.run(spec, task.context())
    sim = simulator.sim
    assert sim.create_paths == [IMAGES]
    assert sim.create_bodies[0] == {
        "model_name": "kling-v1", "prompt": "a fox", "image_fidelity": 0.5, "resolution": "1k",
        "n": 2, "aspect_ratio": "16:9", "external_task_id": task.task_id,
    }
    assert result.videos == []
    assert [i.index for i in result.images] == [0, 1]
    for image in result.images:
        assert image.storage_key == f"images/{task.task_id}/{image.index}.png"
        assert (task.storage.root / image.storage_key).read_bytes() == sim.image
    assert sim.requests["download"] == 2
    again = await provider.run(spec, task.context())  # a retry keeps what was copied
    assert [i.storage_key for i in again.images] == [i.storage_key for i in result.images]
    assert sim.requests["download"] == 2 and sim.submits[task.task_id] == 1


async def test_images_without_rehosting_hand_out_the_upstream_urls(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([key_channel(simulator)], rehost=False)
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x", "n": 1})
    [image] = (await provider.run(spec, task.context())).images
    assert image.storage_key is None and image.index == 0
    assert image.url is not None and image.url.startswith(simulator.base_url + "/files/")


async def test_an_image_result_that_is_not_an_image_fails_the_task(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.image = b"<html>expired</html>"
    provider = await make_provider([key_channel(simulator)])
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    with pytest.raises(ProviderError, match="not an image"):
        await provider.run(spec, task.context())


async def test_a_relay_only_family_is_forwarded_verbatim(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    stored = {"model_name": "kling-v1", "effect_scene": "hug",
              "input": {"model_name": "kling-v1-6", "mode": "std", "duration": "5",
                        "images": ["https://img.example/a.png", "https://img.example/b.png"]},
              "future_field": {"nested": [1, 2]}}
    spec = await stored_task(task, EFFECTS, stored)
    result = await provider.run(spec, task.context())
    sim = simulator.sim
    assert sim.create_paths == [EFFECTS]
    assert sim.create_bodies == [{**stored, "external_task_id": task.task_id}]
    assert len(result.videos) == 1
    upstream = sim.by_external[(f"ak:{AK}", task.task_id)]
    assert upstream.family == EFFECTS


async def test_a_retry_after_a_crash_adopts_the_task_in_its_own_family(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "a fox"})
    await provider.pool.channels["ak"].client.create(
        IMAGES, {"prompt": "a fox", "external_task_id": task.task_id})
    task.state = {"channel": "ak", "tried": ["ak"]}  # saved before the (lost) submit
    result = await provider.run(spec, task.context())
    assert len(result.images) == 1
    assert simulator.sim.submits[task.task_id] == 1
    assert task.state["upstream_task_id"] == next(iter(simulator.sim.tasks))


async def test_many_tasks_of_a_family_are_tracked_by_its_list_sweeps(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([key_channel(simulator)], first_poll_after=30.0,
                                   max_poll_interval=30.0, rehost=False)
    tasks = [new_task() for _ in range(3)]
    specs = [await stored_task(t, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
             for t in tasks]
    results = await asyncio.wait_for(
        asyncio.gather(*(provider.run(s, t.context()) for s, t in zip(specs, tasks,
                                                                      strict=True))), 60)
    assert all(len(r.images) == 1 for r in results)
    assert simulator.sim.requests["list"] >= 1


async def test_channels_serve_only_the_families_they_declare(
        simulator: RunningSimulator, second_simulator: RunningSimulator, make_provider: Any,
        new_task: Any) -> None:
    provider = await make_provider([
        key_channel(simulator, name="videos", families=[TEXT2VIDEO, IMAGE2VIDEO]),
        key_channel(second_simulator, name="images", families=[IMAGES]),
    ], rehost=False)
    assert set(provider.families) == {TEXT2VIDEO, IMAGE2VIDEO, IMAGES}
    assert provider.families[IMAGE2VIDEO] == frozenset(FAMILIES[IMAGE2VIDEO].optional_fields)
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    await provider.run(spec, task.context())
    assert simulator.sim.create_paths == []
    assert second_simulator.sim.create_paths == [IMAGES]
    effects = await stored_task(new_task(), EFFECTS, {"model_name": "kling-v1"})
    with pytest.raises(KlingError) as err:
        provider.check(effects)
    assert err.value.code == 1201 and err.value.message.startswith("model_name")
    assert EFFECTS in err.value.message


async def test_a_model_no_channel_serves_for_a_family_is_refused(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([
        jwt_channel(simulator, name="v1", models=["kling-v1"], families=[IMAGES]),
        key_channel(simulator, name="v2", models=["kling-v2-master"]),
    ])
    provider.check(await stored_task(new_task(), IMAGES, {"model_name": "kling-v1"}))
    provider.check(await stored_task(new_task(), IMAGE2VIDEO, {"model_name": "kling-v2-master"}))
    with pytest.raises(KlingError) as err:
        provider.check(await stored_task(new_task(), IMAGE2VIDEO, {"model_name": "kling-v1"}))
    assert err.value.code == 1201 and "model_name" in err.value.message
    assert "kling-v1" in err.value.message


def test_an_unknown_family_in_a_channel_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown family 'videos/nope'"):
        KlingOptions.parse({"api_key": "k", "families": "videos/text2video, videos/nope"})
    parsed = KlingOptions.parse({"api_key": "k", "families": "images/generations, /videos/effects"})
    assert parsed.channels[0].families == [IMAGES, EFFECTS]


async def test_image_indexes_come_from_the_upstream_or_the_position(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    url = f"{simulator.base_url}/files/x.png"
    simulator.sim.result_override = {"images": [
        {"url": url}, {"index": 5, "url": url}, {"index": True, "url": url},
        {"index": -1, "url": url}, "not an object", {"index": 0, "url": url}]}
    provider = await make_provider([key_channel(simulator)], rehost=False)
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    images = (await provider.run(spec, task.context())).images
    assert [i.index for i in images] == [0, 5, 2, 3, 0]


@pytest.mark.parametrize("url", ["ftp://files.example/a.png", None, "/files/a.png"])
async def test_an_image_without_a_usable_url_fails_the_task(
        simulator: RunningSimulator, make_provider: Any, new_task: Any, url: Any) -> None:
    simulator.sim.result_override = {"images": [{"index": 0, "url": url}]}
    provider = await make_provider([key_channel(simulator)])
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    with pytest.raises(ProviderError, match="the upstream image has no usable URL"):
        await provider.run(spec, task.context())


async def test_a_success_without_images_fails_the_task(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.result_override = {"videos": [{"url": "http://x/v.mp4"}]}
    provider = await make_provider([key_channel(simulator)])
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    with pytest.raises(ProviderError, match="succeeded without an image"):
        await provider.run(spec, task.context())


@pytest.mark.parametrize(("progress", "reported"), [(40.0, 40.0), (0.0, None)])
async def test_upstream_progress_is_reported_as_progress(
        simulator: RunningSimulator, make_provider: Any, new_task: Any, progress: float,
        reported: float | None) -> None:
    """A positive figure is progress; 0 only says the task is processing."""
    simulator.sim.progress = progress
    simulator.sim.finish_after = 1.0
    provider = await make_provider([key_channel(simulator)], rehost=False)
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    await provider.run(spec, task.context())
    assert task.reports and set(task.reports) == {reported}


async def test_a_download_failing_past_submit_retries_is_transient(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.faults.download.extend(["503", "503", "503"])
    provider = await make_provider([key_channel(simulator)], submit_retries=1)
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    with pytest.raises(TransientProviderError, match="HTTP 503"):
        await provider.run(spec, task.context())
    assert simulator.sim.requests["download"] == 2


async def test_closing_a_provider_stops_the_loops_it_supervises_itself(
        simulator: RunningSimulator, tmp_path: Path) -> None:
    provider = KlingProvider({"channels": [key_channel(simulator)]}, Settings(data_dir=tmp_path))
    await provider.start()

    def relay_loops() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t.get_name().startswith("openkling-relay-")
                and not t.done()]

    assert relay_loops()
    await provider.close()
    assert relay_loops() == []


async def test_a_failed_download_is_retried_within_submit_retries(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    simulator.sim.faults.download.append("503")
    provider = await make_provider([key_channel(simulator)], submit_retries=1)
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    [image] = (await provider.run(spec, task.context())).images
    assert image.storage_key is not None
    assert simulator.sim.requests["download"] == 2


async def test_a_tried_channel_no_longer_configured_is_skipped_not_the_end(
        simulator: RunningSimulator, make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    spec = await stored_task(task, IMAGES, {"model_name": "kling-v1", "prompt": "x"})
    await provider.pool.channels["ak"].client.create(
        IMAGES, {"prompt": "x", "external_task_id": task.task_id})
    task.state = {"channel": "ak", "tried": ["removed-channel", "ak"]}
    await provider.run(spec, task.context())
    assert simulator.sim.submits[task.task_id] == 1


async def test_the_callback_event_loop_runs_only_with_a_public_url(
        simulator: RunningSimulator, tmp_path: Path) -> None:
    for public_url, expected in ((None, False), ("http://relay.test", True)):
        settings = Settings(data_dir=tmp_path, public_url=public_url)
        provider = KlingProvider({"channels": [key_channel(simulator)]}, settings)
        provider.attach_events(DyingEventSourceDouble())
        loops = Loops()
        provider.attach_loops(loops)
        await provider.start()
        assert ("relay-events" in loops.health()) is expected
        assert "relay-list-gw" in loops.health()
        await loops.stop()
        await provider.close()
