"""The worker's queue logic, in process: retry, cancel, lease loss, sweeping, shutdown."""

from __future__ import annotations

from pathlib import Path

from openkling.clock import now_ms
from openkling.store.tasks import CANCELLED_MESSAGE
from openkling.vocabulary import TaskStatus
from tests.unit.worker.harness import worker_harness


async def test_a_task_runs_to_success(tmp_path: Path) -> None:
    async with worker_harness(tmp_path) as h:
        task = await h.create("hello")
        done = await h.wait_finished(task.id)
        assert done.status == TaskStatus.SUCCEED and done.progress == 100
        assert done.attempts == 1 and done.lease_owner is None
        (video,) = done.result["videos"]  # type: ignore[index]
        assert await h.resources.storage.exists(video["storage_key"])


async def test_transient_failure_is_retried_then_succeeds(tmp_path: Path) -> None:
    async with worker_harness(tmp_path) as h:
        task = await h.create("[transient] once")
        done = await h.wait_finished(task.id)
        assert done.status == TaskStatus.SUCCEED
        assert done.attempts == 2
        assert done.last_error == "the provider double fails its first attempt"


async def test_transient_failures_end_failed_when_attempts_are_spent(tmp_path: Path) -> None:
    async with worker_harness(tmp_path, max_attempts=1) as h:
        task = await h.create("[transient] once")
        done = await h.wait_finished(task.id)
        assert done.status == TaskStatus.FAILED
        assert done.status_msg.endswith("(gave up after 1 attempts)")


async def test_provider_error_fails_at_once(tmp_path: Path) -> None:
    async with worker_harness(tmp_path) as h:
        task = await h.create("[fail]")
        done = await h.wait_finished(task.id)
        assert done.status == TaskStatus.FAILED and done.attempts == 1
        assert done.status_msg == "the provider double was asked to fail"


async def test_cancelling_a_running_task_stops_it(tmp_path: Path) -> None:
    async with worker_harness(tmp_path) as h:
        task = await h.create("[sleep=30]")
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        flagged = await h.api.tasks.cancel(h.principal, task.id)
        assert flagged.status == TaskStatus.PROCESSING and flagged.cancel_requested
        done = await h.wait_finished(task.id, timeout=10)
        assert done.status == TaskStatus.FAILED and done.status_msg == CANCELLED_MESSAGE
        # The worker stores the failure, then cleans the work folder and lets the run go: on
        # a busy host the test can look in between, so it waits for the run to be let go.
        await h.wait_until(task.id, lambda _: task.id not in h.worker.running, timeout=10)


async def test_cancelling_a_queued_task_fails_it_without_running(tmp_path: Path) -> None:
    async with worker_harness(tmp_path, start=False) as h:
        task = await h.create("never runs")
        cancelled = await h.api.tasks.cancel(h.principal, task.id)
        assert cancelled.status == TaskStatus.FAILED and cancelled.attempts == 0
        assert cancelled.status_msg == CANCELLED_MESSAGE


async def test_a_lost_lease_abandons_the_run(tmp_path: Path) -> None:
    """Another worker took the task over (our lease was swept): this one stops, and its late
    result does not overwrite the new owner's task."""
    async with worker_harness(tmp_path) as h:
        task = await h.create("[sleep=30]")
        running = await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        store = h.resources.tasks
        # As the sweeper of a worker that sees the lease expired would, then its claim.
        assert await store.sweep(now=now_ms() + 60_000) == (1, 0)
        (taken,) = await store.claim("other-worker", "tests.doubles.provider:ProviderDouble", 1,
                                     now=now_ms() + 60_000, lease_ms=600_000)
        assert taken.id == task.id and taken.attempts == running.attempts + 1
        await h.wait_until(task.id, lambda _: task.id not in h.worker.running, timeout=10)
        after = await h.get(task.id)
        # Back in the queue: `submitted` until the new owner starts it (never `processing`
        # without the worker that runs it).
        assert after.lease_owner == "other-worker" and after.status == TaskStatus.SUBMITTED
        assert await store.succeed(running, result={"videos": []}, now=now_ms()) is None


async def test_sweeper_requeues_a_dead_workers_task(tmp_path: Path) -> None:
    async with worker_harness(tmp_path, start=False) as h:
        task = await h.create("orphaned")
        (ghost,) = await h.resources.tasks.claim(
            "dead-worker", "tests.doubles.provider:ProviderDouble", 1, now=now_ms(), lease_ms=1)
        assert ghost.id == task.id
        await h.worker.start()
        try:
            done = await h.wait_finished(task.id)
        finally:
            await h.worker.stop(grace=0)
        assert done.status == TaskStatus.SUCCEED and done.attempts == 2
        assert done.last_error == "lease expired (worker stopped or stalled)"


async def test_sweeper_fails_a_task_out_of_attempts(tmp_path: Path) -> None:
    async with worker_harness(tmp_path, start=False, max_attempts=1) as h:
        task = await h.create("orphaned")
        await h.resources.tasks.claim(
            "dead-worker", "tests.doubles.provider:ProviderDouble", 1, now=now_ms(), lease_ms=1)
        await h.worker.start()
        try:
            done = await h.wait_finished(task.id)
        finally:
            await h.worker.stop(grace=0)
        assert done.status == TaskStatus.FAILED and "giving up" in done.status_msg


async def test_shutdown_hands_running_tasks_back_without_spending_an_attempt(
    tmp_path: Path,
) -> None:
    async with worker_harness(tmp_path, start=False) as h:
        task = await h.create("[sleep=30]")
        await h.worker.start()
        await h.wait_until(task.id, lambda t: t.status == TaskStatus.PROCESSING)
        await h.worker.stop(grace=0)
        back = await h.get(task.id)
        assert back.status == TaskStatus.SUBMITTED and back.lease_owner is None
        assert back.attempts == 0 and back.last_error == "worker shut down"
