"""How the worker ends each kind of run (worker/engine.py), with a provider scripted per test.

Expected values come from the contract: docs/architecture.md (queue, retries, shutdown),
docs/configuration.md (attempts, retry backoff), docs/operations.md (faults, metrics).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc
from prometheus_client import REGISTRY

from openkling.clock import now_ms
from openkling.core.families import IMAGES
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    GenerationResult,
    ImageOutput,
    ProviderError,
    TaskCancelled,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)
from openkling.store.quotas import QuotaStore
from openkling.store.tasks import CANCELLED_MESSAGE
from openkling.vocabulary import TaskStatus
from tests.doubles.scripted_provider import Script, ScriptedProvider
from tests.unit.worker.harness import Harness, worker_harness

SCRIPTED = "tests.doubles.scripted_provider:ScriptedProvider"


def serve(h: Harness, script: Script) -> ScriptedProvider:
    """The started worker's ScriptedProvider, now running `script`."""
    provider = h.worker.providers[SCRIPTED]
    assert isinstance(provider, ScriptedProvider)
    provider.script = script
    return provider


@asynccontextmanager
async def scripted(
    tmp_path: Path, script: Script, **overrides: Any
) -> AsyncIterator[tuple[Harness, ScriptedProvider]]:
    async with worker_harness(tmp_path, provider=SCRIPTED, **overrides) as h:
        yield h, serve(h, script)


async def one_video(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
    key = f"videos/{spec.task_id}/0.mp4"
    await ctx.storage.put_bytes(key, b"not really a video", "video/mp4")
    return GenerationResult([VideoOutput(id=f"{spec.task_id}-0", duration=5.0,
                                         storage_key=key)])


def crash_first(error: Exception) -> Script:
    """The first run raises `error`, later ones make a video."""
    runs = 0

    async def script(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise error
        return await one_video(spec, ctx)
    return script


async def cancel_while_processing(tmp_path: Path, script: Script, **overrides: Any) -> None:
    """Cancel a task once its run is processing: it must end failed, as cancelled."""
    async with scripted(tmp_path, script, **overrides) as (h, _):
        task = await h.create("x")
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        await h.api.tasks.cancel(h.principal, task.id)
        done = await h.wait_finished(task.id, timeout=30)
        # The outcome is written before the run is forgotten: wait for that, too.
        await h.wait_until(task.id, lambda _: task.id not in h.worker.running, timeout=10)
    assert done.status == TaskStatus.FAILED and done.status_msg == CANCELLED_MESSAGE


# ----- retries and attempts -----------------------------------------------------------------


async def test_a_crash_is_retried_and_the_error_names_the_provider(tmp_path: Path) -> None:
    async with scripted(tmp_path, crash_first(ValueError("a bug"))) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.SUCCEED and done.attempts == 2
    assert done.last_error == f"internal error in provider {SCRIPTED}: ValueError"
    assert provider.runs == [(task.id, 1), (task.id, 2)]


async def test_the_last_attempt_failing_fails_the_task_naming_the_count(tmp_path: Path) -> None:
    async def always(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise ValueError("a bug")

    async with scripted(tmp_path, always, max_attempts=2) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.FAILED and done.attempts == 2
    assert done.status_msg == (f"internal error in provider {SCRIPTED}: ValueError "
                               "(gave up after 2 attempts)")
    assert provider.runs == [(task.id, 1), (task.id, 2)]


async def test_a_failed_task_is_refunded_once_however_many_attempts_it_took(
    tmp_path: Path,
) -> None:
    async def always(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise TransientProviderError("upstream 502", retry_after=0.05)

    async with scripted(tmp_path, always, max_attempts=3) as (h, provider):
        quotas = QuotaStore(h.resources.db)
        await quotas.add_pack(h.principal.account_id, name="pack", units=10.0, now=now_ms())
        task = await h.create("x", duration="5")  # std, 5 s: 1 unit at the default prices
        (held,) = await quotas.packs(h.principal.account_id)
        assert held.remaining_units == 9.0
        done = await h.wait_finished(task.id)
        (after,) = await quotas.packs(h.principal.account_id)
        charge = await quotas.charge(task.id)
    assert done.status == TaskStatus.FAILED and len(provider.runs) == 3
    assert after.remaining_units == 10.0
    assert charge is not None and charge.state == "refunded"


@pytest.mark.parametrize(("base", "cap", "low", "high"), [
    (40.0, 300.0, 32.0, 48.0),  # the first retry waits the base, +-20 % jitter
    (40.0, 10.0, 8.0, 12.0),    # never much past the cap
])
async def test_a_transient_error_waits_the_configured_backoff(
    tmp_path: Path, base: float, cap: float, low: float, high: float,
) -> None:
    async def always(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise TransientProviderError("upstream 502")

    async with scripted(tmp_path, always, retry_base_seconds=base,
                        retry_max_seconds=cap) as (h, provider):
        before = now_ms()
        task = await h.create("x")
        back = await h.wait_until(task.id, lambda t: t.last_error == "upstream 502")
        after = now_ms()
    assert back.status == TaskStatus.SUBMITTED and back.attempts == 1
    assert back.lease_owner is None and provider.runs == [(task.id, 1)]
    assert before + low * 1000 <= back.run_after <= after + high * 1000


async def test_retry_after_from_the_provider_replaces_the_backoff(tmp_path: Path) -> None:
    async def busy(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise TransientProviderError("rate limited", retry_after=100.0)

    async with scripted(tmp_path, busy, retry_base_seconds=40.0) as (h, _):
        before = now_ms()
        task = await h.create("x")
        back = await h.wait_until(task.id, lambda t: t.last_error == "rate limited")
        after = now_ms()
    assert back.attempts == 1
    assert before + 100_000 <= back.run_after <= after + 100_000


async def test_waiting_that_spends_no_attempt_outlasts_max_attempts(tmp_path: Path) -> None:
    calls = 0

    async def busy_twice(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise TransientProviderError("all channels busy", retry_after=0.05,
                                         count_attempt=False)
        return await one_video(spec, ctx)

    async with scripted(tmp_path, busy_twice, max_attempts=1) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.SUCCEED and done.attempts == 1
    assert provider.runs == [(task.id, 1)] * 3
    assert done.last_error == "all channels busy"


async def test_the_database_being_away_spends_no_attempt(tmp_path: Path) -> None:
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    async with scripted(tmp_path, crash_first(outage), max_attempts=1,
                        retry_base_seconds=40.0) as (h, provider):
        before = now_ms()
        task = await h.create("x")
        back = await h.wait_until(
            task.id, lambda t: t.last_error == "the database was unavailable")
        after = now_ms()
        done = await h.wait_finished(task.id)
    # Back in the queue for a second, not for the 40 s backoff, and no attempt spent.
    assert back.attempts == 0 and back.status == TaskStatus.SUBMITTED
    assert before + 1000 <= back.run_after <= after + 1000
    assert done.status == TaskStatus.SUCCEED and done.attempts == 1
    assert provider.runs == [(task.id, 1), (task.id, 1)]


async def test_a_retry_due_before_the_next_poll_is_taken_when_due(tmp_path: Path) -> None:
    """The claim loop sleeps until the earliest retry, not the whole poll interval."""
    async with scripted(tmp_path, crash_first(TransientProviderError("once", retry_after=0.3)),
                        poll_interval=60.0) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id, timeout=15)
    assert done.status == TaskStatus.SUCCEED and provider.runs == [(task.id, 1), (task.id, 2)]


# ----- failures that are final at once --------------------------------------------------------


async def test_a_full_disk_fails_once_without_rendering_again(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/srv/files/videos/1.mp4")

    async def fill(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise full

    async with scripted(tmp_path, fill, max_attempts=3) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.FAILED and done.attempts == 1
    assert done.status_msg == ("the server's disk is full: the video could not be stored; "
                               "the operator must free space")  # no server path
    assert provider.runs == [(task.id, 1)]


async def test_a_provider_error_without_words_still_says_it_failed(tmp_path: Path) -> None:
    async def silent(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise ProviderError("")

    async with scripted(tmp_path, silent) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.FAILED and done.status_msg == "generation failed"
    assert provider.runs == [(task.id, 1)]


async def test_a_run_that_returns_nothing_fails_without_retrying(tmp_path: Path) -> None:
    async def nothing(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        return GenerationResult([])

    async with scripted(tmp_path, nothing) as (h, provider):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.FAILED
    assert done.status_msg == "the provider returned no video, image or sound"
    assert provider.runs == [(task.id, 1)]


# ----- results --------------------------------------------------------------------------------


async def test_a_video_task_stores_its_videos_and_no_images(tmp_path: Path) -> None:
    async with scripted(tmp_path, one_video) as (h, _):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.SUCCEED and done.progress == 100
    assert done.result == {"videos": [{"id": f"{task.id}-0", "duration": 5.0,
                                       "storage_key": f"videos/{task.id}/0.mp4"}]}


async def test_an_image_task_stores_its_images(tmp_path: Path) -> None:
    async def images(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        keys = [f"images/{spec.task_id}/{i}.png" for i in range(int(spec.request["n"]))]
        for key in keys:
            await ctx.storage.put_bytes(key, b"png", "image/png")
        return GenerationResult([], images=[ImageOutput(index=i, storage_key=key)
                                            for i, key in enumerate(keys)])

    async with scripted(tmp_path, images) as (h, _):
        task = await h.create_in(IMAGES, {"prompt": "a fox", "n": 2})
        done = await h.wait_finished(task.id, kind=IMAGES)
    assert done.status == TaskStatus.SUCCEED
    assert done.result == {"videos": [], "images": [
        {"index": 0, "storage_key": f"images/{task.id}/0.png"},
        {"index": 1, "storage_key": f"images/{task.id}/1.png"},
    ]}


async def test_provider_state_carries_over_and_the_work_dir_is_removed(tmp_path: Path) -> None:
    seen: list[tuple[int, dict[str, Any], Path]] = []

    async def resumable(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        seen.append((ctx.attempt, dict(ctx.state), ctx.work_dir))
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        (ctx.work_dir / "partial.bin").write_bytes(b"x")
        if ctx.attempt == 1:
            await ctx.save_state(upstream_id="u-1")
            raise TransientProviderError("upstream timeout", retry_after=0.05)
        return await one_video(spec, ctx)

    async with scripted(tmp_path, resumable) as (h, _):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    work = tmp_path / "work" / task.id
    assert done.status == TaskStatus.SUCCEED
    assert seen == [(1, {}, work), (2, {"upstream_id": "u-1"}, work)]
    assert not work.exists()


async def test_progress_marks_processing_and_is_saved(tmp_path: Path) -> None:
    step = asyncio.Event()
    step2 = asyncio.Event()
    finish = asyncio.Event()

    async def reporting(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.report_progress(30.9)
        await step.wait()
        await asyncio.sleep(0.6)  # past the 0.5 s between progress writes
        await ctx.report_progress(64.2)
        await step2.wait()
        await ctx.report_progress(100.0)  # at once: 100 % is always written
        await finish.wait()
        return await one_video(spec, ctx)

    async with scripted(tmp_path, reporting) as (h, _):
        task = await h.create("x")
        started = await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        step.set()
        later = await h.wait_until(task.id, lambda t: t.progress == 64)
        step2.set()
        full = await h.wait_until(task.id, lambda t: t.progress == 100)
        finish.set()
        done = await h.wait_finished(task.id)
    assert started.progress == 30
    assert later.status == full.status == TaskStatus.PROCESSING
    assert done.status == TaskStatus.SUCCEED


async def test_an_outcome_in_hand_waits_out_a_locked_database(tmp_path: Path) -> None:
    """The database refuses writes for longer than its busy timeout (10 s) when the run
    ends: the outcome is written once it is back, and the video is not rendered again."""
    finish = asyncio.Event()

    async def ends_while_locked(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await finish.wait()
        return await one_video(spec, ctx)

    async with scripted(tmp_path, ends_while_locked, lease_seconds=120.0,
                        heartbeat_seconds=60.0) as (h, provider):
        task = await h.create("x")
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        # A write of the worker's (a sweep, say) may be under way: wait for it off the event
        # loop, which that write needs to finish, rather than fail to take the lock.
        other = sqlite3.connect(tmp_path / "openkling.db", isolation_level=None, timeout=60,
                                check_same_thread=False)
        await asyncio.to_thread(other.execute, "BEGIN EXCLUSIVE")
        try:
            finish.set()
            await asyncio.sleep(11)  # the worker's write meets the lock past its timeout
        finally:
            other.execute("COMMIT")
            other.close()
        done = await h.wait_finished(task.id, timeout=30)
    assert done.status == TaskStatus.SUCCEED and done.attempts == 1
    assert provider.runs == [(task.id, 1)]


# ----- cancellation, concurrency, start and stop ----------------------------------------------


async def test_a_cancel_is_noticed_between_heartbeats(tmp_path: Path) -> None:
    async def cooperative(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await ctx.cancelled.wait()
        raise TaskCancelled("cancelled")

    # The first heartbeat is 30 s away: only the cancellation check can see the request.
    await cancel_while_processing(tmp_path, cooperative, lease_seconds=60.0,
                                  heartbeat_seconds=30.0)


async def test_a_provider_that_ignores_a_cancel_is_stopped(tmp_path: Path) -> None:
    async def deaf(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    await cancel_while_processing(tmp_path, deaf)


async def test_a_cooperative_provider_gets_time_to_stop_cleanly(tmp_path: Path) -> None:
    """A cancel is a request first: the run is only cut off after a grace (>= 5 s)."""
    cleaned: list[bool] = []

    async def tidy(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await ctx.cancelled.wait()
        await asyncio.sleep(1.5)  # e.g. cancelling an upstream task first
        cleaned.append(True)
        raise TaskCancelled("cancelled")

    await cancel_while_processing(tmp_path, tidy)
    assert cleaned == [True]


async def test_heartbeats_renew_the_lease_of_a_long_run(tmp_path: Path) -> None:
    """Each lease runs `lease_seconds` from the claim, then from each heartbeat."""
    finish = asyncio.Event()
    lease_ms = 3_000_000  # long, so that a lease a thousandth too long shows

    async def long(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await finish.wait()
        return await one_video(spec, ctx)

    async with scripted(tmp_path, long, lease_seconds=lease_ms / 1000,
                        heartbeat_seconds=1.5) as (h, _):
        before = now_ms()
        task = await h.create("x")
        first = await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        seen_first = now_ms()
        renewed = await h.wait_until(
            task.id, lambda t: (t.lease_expires_at or 0) > (first.lease_expires_at or 0),
            timeout=15)
        seen_renewed = now_ms()
        finish.set()
        done = await h.wait_finished(task.id)
    assert first.lease_expires_at is not None and renewed.lease_expires_at is not None
    assert before + lease_ms <= first.lease_expires_at <= seen_first + lease_ms
    assert renewed.lease_expires_at <= seen_renewed + lease_ms
    assert renewed.lease_owner == h.worker.id and renewed.attempts == 1
    assert done.status == TaskStatus.SUCCEED and done.attempts == 1


async def test_a_result_that_comes_after_the_lease_moved_on_is_discarded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """The run ends before its worker notices the loss (next heartbeat in 30 s): the result
    must not touch the task another worker now holds, and the log says it was dropped."""
    finish = asyncio.Event()

    async def late(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await finish.wait()
        return await one_video(spec, ctx)

    caplog.set_level(logging.WARNING, logger="openkling.worker.engine")
    async with scripted(tmp_path, late, lease_seconds=60.0, heartbeat_seconds=30.0) as (h, _):
        task = await h.create("x")
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        store = h.resources.tasks
        assert await store.sweep(now=now_ms() + 120_000) == (1, 0)
        (taken,) = await store.claim("other-worker", SCRIPTED, 1, now=now_ms() + 120_000,
                                     lease_ms=600_000)
        finish.set()
        await h.wait_until(task.id, lambda _: task.id not in h.worker.running, timeout=10)
        after = await h.get(task.id)
    assert taken.id == task.id
    assert after.status == TaskStatus.SUBMITTED and after.lease_owner == "other-worker"
    assert after.result is None
    assert f"task {task.id}: finished after losing its lease; result discarded" in (
        caplog.messages)


async def test_the_sweeper_wakes_the_claim_loop_for_what_it_requeues(tmp_path: Path) -> None:
    """With a minute between polls, a task the sweeper re-queues is still taken at once.

    The dead worker's lease outlives the first sweep (at start), so the claim loop is idle
    when the second sweep (5 s later) re-queues the task."""
    async with worker_harness(tmp_path, start=False, provider=SCRIPTED,
                              poll_interval=60.0) as h:
        task = await h.create("orphaned")
        await h.resources.tasks.claim("dead-worker", SCRIPTED, 1, now=now_ms(), lease_ms=1500)
        await h.worker.start()
        try:
            serve(h, one_video)
            done = await h.wait_finished(task.id, timeout=20)
        finally:
            await h.worker.stop(grace=0)
    assert done.status == TaskStatus.SUCCEED and done.attempts == 2
    assert done.last_error == "lease expired (worker stopped or stalled)"


async def test_the_claim_loop_finishes_its_turns_with_nothing_to_claim(tmp_path: Path) -> None:
    async with worker_harness(tmp_path) as h:
        started = time.monotonic()
        claim = h.worker.loops.states["claim"]
        deadline = started + 10
        while claim.last_ok <= started and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert claim.last_ok > started


async def test_retention_deletes_expired_tasks_and_keeps_turning(tmp_path: Path) -> None:
    long_ago = now_ms() - 3 * 86_400_000
    async with worker_harness(tmp_path, start=False, retention_days=1.0) as h:
        old = await h.create("old")
        (claimed,) = await h.resources.tasks.claim(
            "a-worker", "tests.doubles.provider:ProviderDouble", 1, now=now_ms(),
            lease_ms=60_000)
        assert await h.resources.tasks.fail(claimed, message="old", now=long_ago) is not None
        await h.worker.start()
        try:
            deadline = time.monotonic() + 10
            while (await h.resources.tasks.get(h.principal.account_id, old.id)) is not None:
                assert time.monotonic() < deadline, "the expired task was never deleted"
                await asyncio.sleep(0.05)
            assert h.worker.loops.health()["retention"] == "ok"
        finally:
            await h.worker.stop(grace=0)


async def test_a_provider_runs_at_most_its_concurrency(tmp_path: Path) -> None:
    go = asyncio.Event()
    running = 0
    most = 0

    async def held(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await go.wait()
        running -= 1
        return await one_video(spec, ctx)

    async with scripted(tmp_path, held,
                        provider_options={SCRIPTED: {"concurrency": 2}}) as (h, provider):
        tasks = [await h.create(f"task {i}") for i in range(3)]
        await h.wait_until(tasks[1].id, lambda _: len(provider.runs) >= 2)
        await asyncio.sleep(0.5)  # ten polls: the third must not start while two run
        assert len(provider.runs) == 2
        go.set()
        finished = [await h.wait_finished(t.id) for t in tasks]
    assert most == 2 and len(provider.runs) == 3
    assert all(t.status == TaskStatus.SUCCEED for t in finished)


async def test_a_provider_that_cannot_start_leaves_its_tasks_waiting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    options = {SCRIPTED: {"fail_start": "no GPU"}}
    caplog.set_level(logging.INFO, logger="openkling.worker.engine")
    async with worker_harness(tmp_path, provider=SCRIPTED, provider_options=options) as h:
        assert f"worker {h.worker.id} started (providers: -)" in caplog.messages
        assert h.worker.failed == {SCRIPTED: "failed to start: RuntimeError: no GPU"}
        assert SCRIPTED not in h.worker.providers
        task = await h.create("x")
        await asyncio.sleep(0.5)  # ten polls
        waiting = await h.get(task.id)
    assert waiting.status == TaskStatus.SUBMITTED
    assert waiting.attempts == 0 and waiting.lease_owner is None


async def test_a_start_failure_is_reported_in_at_most_300_characters(tmp_path: Path) -> None:
    options = {SCRIPTED: {"fail_start": "x" * 400}}
    async with worker_harness(tmp_path, provider=SCRIPTED, provider_options=options) as h:
        reason = h.worker.failed[SCRIPTED]
    assert reason == ("failed to start: RuntimeError: " + "x" * 400)[:300]


async def test_shutdown_lets_a_run_finish_within_the_grace_then_closes(tmp_path: Path) -> None:
    async def short(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await asyncio.sleep(0.3)
        return await one_video(spec, ctx)

    async with worker_harness(tmp_path, start=False, provider=SCRIPTED) as h:
        await h.worker.start()
        provider = serve(h, short)
        task = await h.create("x")
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        await h.worker.stop(grace=30)
        done = await h.get(task.id)
    assert done.status == TaskStatus.SUCCEED and provider.closed


@pytest.mark.parametrize(("days", "loops"), [
    (0.0, {"claim", "lease", "sweep", "callbacks"}),
    (30.0, {"claim", "lease", "sweep", "callbacks", "retention"}),
])
async def test_retention_runs_only_when_configured(
    tmp_path: Path, days: float, loops: set[str],
) -> None:
    async with worker_harness(tmp_path, retention_days=days) as h:
        assert set(h.worker.loops.health()) == loops


# ----- metrics --------------------------------------------------------------------------------


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_run_and_each_finished_task_is_counted(tmp_path: Path) -> None:
    async with scripted(tmp_path, crash_first(TransientProviderError("once", retry_after=0.05))
                        ) as (h, _):
        model = h.resources.models.resolve(None).name  # the model a create without one gets
        render = {outcome: _sample("openkling_render_duration_seconds_count",
                                   {"provider": SCRIPTED, "model": model, "outcome": outcome})
                  for outcome in ("retry", "succeed")}
        attempts = {label: _sample(f"openkling_task_attempts_{label}",
                                   {"provider": SCRIPTED, "status": "succeed"})
                    for label in ("count", "sum")}
        retried = _sample("openkling_task_attempts_count",
                          {"provider": SCRIPTED, "status": "retry"})
        task = await h.create("x")
        assert task.model_name == model
        await h.wait_finished(task.id)
        # The run is counted once its outcome is written, so a poll may see the task finished
        # a moment before (a busy machine): wait for the count, then check every figure.
        succeed = {"provider": SCRIPTED, "model": model, "outcome": "succeed"}
        deadline = time.monotonic() + 20
        while (_sample("openkling_render_duration_seconds_count", succeed) == render["succeed"]
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
    for outcome in ("retry", "succeed"):
        assert _sample("openkling_render_duration_seconds_count", {
            "provider": SCRIPTED, "model": model, "outcome": outcome}) == render[outcome] + 1
    assert _sample("openkling_task_attempts_count",
                   {"provider": SCRIPTED, "status": "succeed"}) == attempts["count"] + 1
    assert _sample("openkling_task_attempts_sum",
                   {"provider": SCRIPTED, "status": "succeed"}) == attempts["sum"] + 2
    assert _sample("openkling_task_attempts_count",
                   {"provider": SCRIPTED, "status": "retry"}) == retried == 0.0


async def test_progress_held_back_by_the_write_interval_is_written_later(
    tmp_path: Path,
) -> None:
    """A render whose steps come faster than the progress write interval still shows them
    (docs/architecture.md: progress while processing), instead of 0 until it jumps to 100."""
    seen = asyncio.Event()

    async def quick_steps(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await ctx.report_progress(40)  # right after the processing write: held back
        await seen.wait()  # the render goes on only once a client could see 40
        return await one_video(spec, ctx)

    async with scripted(tmp_path, quick_steps) as (h, _):
        task = await h.create("x")
        shown = await h.wait_until(task.id, lambda t: t.progress == 40)
        assert shown.status == TaskStatus.PROCESSING
        seen.set()
        done = await h.wait_finished(task.id)
        assert done.status == TaskStatus.SUCCEED and done.progress == 100
