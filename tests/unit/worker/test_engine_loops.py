"""The claim loop's timing and batching, and the cancel grace (worker/engine.py), pinned.

Expected values come from docs/architecture.md and docs/configuration.md: an idle worker
looks for work every `poll_interval` (a new task in the same process wakes it sooner); it
claims up to `CLAIM_BATCH` tasks per statement and claims again while a batch comes back
full and slots are free; a cancelled run gets `max(5, heartbeat_seconds)` seconds to stop
before it is cut off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from openkling.core.models import GenerationSpec
from openkling.core.provider import GenerationResult, TaskCancelled, TaskContext
from openkling.store.records import TaskRecord
from openkling.store.tasks import CANCELLED_MESSAGE
from openkling.vocabulary import TaskStatus
from openkling.worker import engine
from tests.unit.worker.harness import Harness
from tests.unit.worker.test_engine_outcomes import SCRIPTED, one_video, scripted


async def next_turn(h: Harness, loop: str, after: float, timeout: float = 10.0) -> None:
    """Until the loop `loop` has ended a turn after the monotonic time `after`."""
    state = h.worker.loops.states[loop]
    deadline = time.monotonic() + timeout
    while state.last_ok <= after:
        assert time.monotonic() < deadline, f"the {loop} loop never turned"
        await asyncio.sleep(0.01)


async def settle(h: Harness) -> None:
    """Until the claim loop is idle: a turn after a wake-up (so the one at start is over),
    then a turn of the lease loop (a second each, so any turn already due has happened)."""
    woken = time.monotonic()
    h.worker.wake()
    await next_turn(h, "claim", woken)
    await next_turn(h, "lease", time.monotonic())


def count_claims(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on the worker's claims: the `limit` of each, in order."""
    limits: list[int] = []
    claim: Callable[..., Awaitable[list[TaskRecord]]] = h.worker.tasks.claim

    async def spy(owner: str, provider: str, limit: int, **kwargs: Any) -> list[TaskRecord]:
        limits.append(limit)
        return await claim(owner, provider, limit, **kwargs)

    monkeypatch.setattr(h.worker.tasks, "claim", spy)
    return limits


async def test_an_idle_worker_finds_a_task_nobody_woke_it_for(tmp_path: Path) -> None:
    """A task written by another process wakes nothing here: the poll finds it."""
    async with scripted(tmp_path, one_video) as (h, _):  # poll_interval 0.05 s
        await settle(h)  # the look at start is over: only a poll can find the task
        h.api.tasks.on_created = None  # as if another process had created it
        task = await h.create("x")
        done = await h.wait_finished(task.id, timeout=10)
    assert done.status == TaskStatus.SUCCEED


async def test_an_idle_worker_waits_the_poll_interval_between_looks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No spinning: with an hour between polls, an idle worker does not look again while
    its other loops turn (the lease loop turns every second)."""
    async with scripted(tmp_path, one_video, poll_interval=3600.0) as (h, _):
        claims = count_claims(h, monkeypatch)
        await settle(h)
        looked = len(claims)
        await next_turn(h, "lease", time.monotonic())
        await next_turn(h, "lease", time.monotonic())
        assert len(claims) == looked
        woken = time.monotonic()
        h.worker.wake()  # ... and a wake-up looks at once
        await next_turn(h, "claim", woken)
        assert claims[looked:] == [4]  # the free slots of the provider


async def test_a_full_batch_is_followed_by_another_claim_up_to_the_free_slots(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "CLAIM_BATCH", 2)
    release = asyncio.Event()

    async def held(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await release.wait()
        return await one_video(spec, ctx)

    async with scripted(tmp_path, held, poll_interval=3600.0,
                        provider_options={SCRIPTED: {"concurrency": 5}}) as (h, provider):
        claims = count_claims(h, monkeypatch)
        await settle(h)
        h.api.tasks.on_created = None
        tasks = [await h.create(f"t{i}") for i in range(7)]
        looked = len(claims)
        woken = time.monotonic()
        h.worker.wake()
        await next_turn(h, "claim", woken)
        # One turn: batches of 2 while they come back full, then what is left of 5 slots.
        assert claims[looked:] == [2, 2, 1]
        assert len(h.worker.running) == 5
        release.set()
        finished = [await h.wait_finished(t.id) for t in tasks]
    assert all(t.status == TaskStatus.SUCCEED for t in finished)
    assert len(provider.runs) == 7


@pytest.mark.slow
async def test_the_cancel_grace_is_the_heartbeat_when_that_is_longer_than_5_s(
        tmp_path: Path) -> None:
    """heartbeat_seconds = 8: a run that takes 6 s to stop after the cancel is not cut off
    (5 s would have cut it)."""
    cleaned: list[bool] = []

    async def tidy(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        await ctx.cancelled.wait()
        await asyncio.sleep(6)
        cleaned.append(True)
        raise TaskCancelled("cancelled")

    async with scripted(tmp_path, tidy, lease_seconds=60.0, heartbeat_seconds=8.0) as (h, _):
        task = await h.create("x")
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        await h.api.tasks.cancel(h.principal, task.id)
        done = await h.wait_finished(task.id, timeout=30)
    assert done.status == TaskStatus.FAILED and done.status_msg == CANCELLED_MESSAGE
    assert cleaned == [True]
