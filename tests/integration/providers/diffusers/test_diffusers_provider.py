"""DiffusersProvider with the tiny random Wan model in a real model process (CPU, offline)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.provider import ProviderError, TaskCancelled, TransientProviderError
from openkling.providers.diffusers import DiffusersProvider
from openkling.providers.diffusers.provider import video_id_for
from tests.support.diffusers import TINY_OPTIONS, ContextRecorder, make_spec, probe


@pytest.mark.parametrize(
    ("fields", "frames", "size"),
    [
        # (16:9 and 1:1 are rendered end to end in test_diffusers_server.py.)
        ({"aspect_ratio": "9:16", "duration": 3, "mode": "pro", "negative_prompt": "noise"},
         49, (48, 80)),
    ],
)
async def test_renders_the_mp4_the_request_implies(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder, fields: dict[str, Any],
    frames: int, size: tuple[int, int],
) -> None:
    spec = make_spec("2001", **fields)
    result = await tiny_provider.run(spec, recorder.context("2001"))

    [video] = result.videos
    assert video.storage_key == f"videos/2001/{video.id}.mp4"
    assert video.duration == frames / 16
    info = probe(recorder.storage.path_for(video.storage_key))
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["frames"] == frames
    assert info["size"] == size
    assert info["fps"] == 16
    assert info["duration"] == pytest.approx(frames / 16, abs=1e-3)
    # processing first, then denoising progress rising to 95 (the engine sets 100 on succeed).
    assert recorder.reports[0] is None
    progress = [p for p in recorder.reports if p is not None]
    assert progress == sorted(progress)
    assert progress[-1] == 95


def test_a_retried_task_renders_under_the_same_video_id() -> None:
    assert video_id_for("2002") == video_id_for("2002")
    assert video_id_for("2002") != video_id_for("2003")


async def test_cancellation_stops_between_steps_and_keeps_the_model_warm(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder
) -> None:
    await tiny_provider.start()
    assert tiny_provider.model_process is not None
    await tiny_provider.model_process.wait_ready()
    pid = tiny_provider.model_process.pid
    ctx = recorder.context("2004")
    base_report = ctx._report

    async def cancel_on_first_step(percent: float | None) -> None:
        await base_report(percent)
        if percent is not None:
            ctx.cancelled.set()

    ctx._report = cancel_on_first_step
    recorder.reports.clear()
    spec = make_spec("2004", options={"std_steps": 500})
    with pytest.raises(TaskCancelled):
        await tiny_provider.run(spec, ctx)

    progress = [p for p in recorder.reports if p is not None]
    assert progress and progress[-1] < 10  # stopped within a few of the 500 steps
    assert not list(recorder.storage.root.glob("videos/2004/*"))
    # The same warm process serves the next task.
    result = await tiny_provider.run(make_spec("2005", duration=3), recorder.context("2005"))
    assert result.videos[0].duration == 49 / 16
    assert tiny_provider.model_process.pid == pid


async def test_a_crashed_model_process_fails_the_attempt_transiently_and_restarts(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder
) -> None:
    await tiny_provider.start()
    process = tiny_provider.model_process
    assert process is not None
    ctx = recorder.context("2006")
    base_report = ctx._report
    killed: list[int] = []

    async def kill_on_first_step(percent: float | None) -> None:
        await base_report(percent)
        if percent is not None and not killed and process.pid is not None:
            killed.append(process.pid)
            os.kill(process.pid, signal.SIGKILL)

    ctx._report = kill_on_first_step
    with pytest.raises(TransientProviderError, match=r"exited unexpectedly.*SIGKILL"):
        await tiny_provider.run(make_spec("2006", options={"std_steps": 500}), ctx)

    spec = make_spec("2006", duration=3)
    result = await tiny_provider.run(spec, recorder.context("2006", attempt=2))
    assert result.videos[0].duration == 49 / 16
    assert process.pid is not None and process.pid != killed[0]


def test_check_rejects_camera_control(tiny_provider: DiffusersProvider) -> None:
    spec = make_spec(camera_control={"type": "simple", "config": {"zoom": 5}})
    with pytest.raises(KlingError) as caught:
        tiny_provider.check(spec)
    assert caught.value.code == 1201
    assert caught.value.http_status == 400
    assert "camera_control" in caught.value.message
    assert "not supported by the local diffusers provider" in caught.value.message


def test_check_rejects_other_kinds(tiny_provider: DiffusersProvider) -> None:
    with pytest.raises(KlingError) as caught:
        tiny_provider.check(make_spec(kind="image2video"))
    assert caught.value.code == 1201


def test_check_accepts_what_it_can_render(tiny_provider: DiffusersProvider) -> None:
    orientation = {"16:9": "landscape", "9:16": "portrait", "1:1": "square"}
    for ratio, expected in orientation.items():
        for mode in ("std", "pro"):
            spec = make_spec(aspect_ratio=ratio, mode=mode, duration=10)
            assert tiny_provider.check(spec) is None  # accepted: no KlingError
            call = tiny_provider.plan(spec)  # and what it will render has that shape
            shape = ("landscape" if call.width > call.height
                     else "portrait" if call.height > call.width else "square")
            assert (shape, round(call.duration)) == (expected, 10), (ratio, mode, call)


def test_a_route_with_bad_options_is_a_configuration_error(
    tiny_provider: DiffusersProvider,
) -> None:
    with pytest.raises(KlingError) as caught:
        tiny_provider.check(make_spec(options={"std_steps": 0}))
    assert caught.value.code == 5000
    assert "std_steps" in caught.value.message


async def test_a_route_naming_another_model_renders_on_it_in_a_process_of_its_own(
    tiny_provider: DiffusersProvider, recorder: ContextRecorder,
) -> None:
    # random-wan-small: 96x64 at 2 fps (docs/providers.md), where the provider's tiny model
    # renders 80x48 at 16 fps; 5 s at 2 fps is 4 * round(10 / 4) + 1 = 9 frames.
    await tiny_provider.start()
    spec = make_spec("2009", model_name="kling-v2-1-master",
                     options={"model": "random-wan-small"})
    tiny_provider.check(spec)
    result = await tiny_provider.run(spec, recorder.context("2009"))

    [video] = result.videos
    info = probe(recorder.storage.path_for(video.storage_key))
    assert (info["frames"], info["size"], info["fps"]) == (9, (96, 64), 2)
    routed = tiny_provider.pool_for(spec)
    assert routed.model == "random-wan-small"
    assert [p.load_config["model"] for p in tiny_provider.model_processes] == ["tiny-random-wan"]
    assert {p.pid for p in routed.processes}.isdisjoint(
        {p.pid for p in tiny_provider.model_processes})


def test_bad_options_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"width: .*multiple of 16"):
        DiffusersProvider({"width": "100"}, Settings(data_dir=tmp_path))
    with pytest.raises(ValueError, match="bogus"):
        DiffusersProvider({"bogus": 1}, Settings(data_dir=tmp_path))


async def test_a_model_that_cannot_load_fails_the_task_clearly(
    tmp_path: Path, recorder: ContextRecorder
) -> None:
    provider = DiffusersProvider({"model": str(tmp_path / "missing"), "device": "cpu"},
                                 Settings(data_dir=tmp_path))
    try:
        with pytest.raises(ProviderError, match=r"could not load model.*no such model folder"):
            await provider.run(make_spec("2008"), recorder.context("2008"))
    finally:
        await provider.close()


def test_importing_the_provider_does_not_import_torch() -> None:
    code = (
        "import sys, openkling.providers.diffusers as d\n"
        "d.DiffusersProvider({'model': 'tiny-random-wan'}, __import__('openkling.config')"
        ".config.Settings())\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'av') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tiny_options_are_the_tiny_defaults() -> None:
    provider = DiffusersProvider(dict(TINY_OPTIONS), Settings())
    assert (provider.options.width, provider.options.height) == (80, 48)
