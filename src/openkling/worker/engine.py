"""The worker: claims tasks, runs providers, keeps leases alive, sweeps, retries, cancels.

One asyncio loop per process. Provider work must not block it (providers run models in
their own processes or threads). All leases of a worker are renewed by one statement.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from openkling.clock import now_ms
from openkling.config import Settings
from openkling.core.backoff import backoff_seconds, keep_trying
from openkling.core.models import spec_from_stored
from openkling.core.provider import (
    GenerationResult,
    Provider,
    ProviderError,
    ProviderStatus,
    ReportsStatus,
    TaskCancelled,
    TaskContext,
    TransientProviderError,
)
from openkling.core.registry import ModelRegistry
from openkling.observability import metrics
from openkling.observability.failures import RepeatingFailure
from openkling.storage.base import Storage
from openkling.store.records import TaskRecord
from openkling.store.retention import delete_expired
from openkling.store.tasks import CANCELLED_MESSAGE, TaskStore
from openkling.store.workers import record_heartbeat
from openkling.vocabulary import TaskStatus
from openkling.worker.deliverer import CallbackDeliverer
from openkling.worker.faults import disk_full_message, is_database_unavailable
from openkling.worker.loops import Loops

log = logging.getLogger(__name__)

CLAIM_BATCH = 200
CANCEL_CHECK_SECONDS = 1.0
PROGRESS_WRITE_SECONDS = 0.5
SWEEP_SECONDS = 5.0

T = TypeVar("T")


@dataclass
class _Running:
    record: TaskRecord
    provider: str
    ctx: TaskContext
    job: asyncio.Task[None] | None = None
    processing: bool = False
    progress: int = 0
    last_write: float = 0.0
    lost: bool = False
    cancel_deadline: float | None = None
    started: float = field(default_factory=time.monotonic)
    #: Progress held back by the write interval, and the timer that writes it then.
    pending: int | None = None
    flush: asyncio.Task[None] | None = None


class Worker:
    """`providers` are those built; the ones that also start are served (`self.providers`)."""

    def __init__(
        self,
        *,
        settings: Settings,
        tasks: TaskStore,
        providers: Mapping[str, Provider],
        models: ModelRegistry,
        storage: Storage,
        deliverer: CallbackDeliverer,
        worker_id: str | None = None,
        on_loop_death: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.tasks = tasks
        self.models = models
        self.storage = storage
        self.deliverer = deliverer
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._built = dict(providers)
        self.providers: dict[str, Provider] = {}
        #: Providers that did not start, with the reason (readiness reports them).
        self.failed: dict[str, str] = {}
        self._running: dict[str, _Running] = {}
        self._states: dict[str, str] = {}  # last state told to metrics
        self._wake = asyncio.Event()
        self._stopping = False
        self.loops = Loops(on_death=on_loop_death)
        self._last_renewal = -float("inf")  # the first lease turn says at once we are alive
        self._outcomes = RepeatingFailure(log, "saving task outcomes")
        self._progress = RepeatingFailure(log, "saving task progress")

    # ----- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        for name, provider in self._built.items():
            metrics.set_provider_state(name, "loading")
            try:
                await provider.start()
            except Exception as exc:
                log.exception("provider %s failed to start; its tasks wait in the queue", name)
                self.failed[name] = f"failed to start: {type(exc).__name__}: {exc}"[:300]
                continue
            self.providers[name] = provider
        self.provider_status()
        # Each loop survives database, disk and network failures (core/loops.py).
        self.loops.spawn("claim", self._claim_turn, wake=self._wake)
        self.loops.spawn("lease", self._lease_turn)
        self.loops.spawn("sweep", self._sweep_turn)
        await self.deliverer.open()
        self.loops.spawn("callbacks", self.deliverer.turn, wake=self.deliverer.wake_event)
        if self.settings.retention_days > 0:
            self.loops.spawn("retention", self._retention_turn)
        log.info("worker %s started (providers: %s)", self.id, ", ".join(self.providers) or "-")

    def provider_status(self) -> dict[str, ProviderStatus]:
        """Each built provider: `failed` (did not start, or cannot load its model),
        `loading`, or `ready`. Also kept in `openkling_provider_state`."""
        found = {name: ProviderStatus("failed", why) for name, why in self.failed.items()}
        for name, provider in self.providers.items():
            found[name] = provider.status() if isinstance(provider, ReportsStatus) \
                else ProviderStatus("ready")
        for name, status in found.items():
            if self._states.get(name) != status.state:
                self._states[name] = status.state
                metrics.set_provider_state(name, status.state)
        return found

    def _takes_work(self, name: str) -> bool:
        """A provider that cannot load its model takes no task: its tasks wait, as for one
        that failed at start, rather than fail one by one."""
        provider = self.providers[name]
        return not (isinstance(provider, ReportsStatus) and provider.status().state == "failed")

    @property
    def running(self) -> frozenset[str]:
        """Ids of the tasks this worker is running now."""
        return frozenset(self._running)

    def wake(self) -> None:
        """A task was created: look for work now instead of at the next poll."""
        self._wake.set()

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let running tasks finish within the grace period; release the rest."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self._stopping = True
        self._wake.set()
        jobs = [r.job for r in self._running.values() if r.job is not None]
        if jobs:
            log.info("waiting up to %.0fs for %d running task(s)", grace, len(jobs))
            await asyncio.wait(jobs, timeout=grace)
        for running in list(self._running.values()):
            if running.job is not None and not running.job.done():
                running.job.cancel()
        remaining = [r.job for r in self._running.values() if r.job is not None]
        if remaining:
            await asyncio.wait(remaining, timeout=10)
        self.deliverer.stop()
        await self.loops.stop()
        await self.deliverer.close()
        for name, provider in self.providers.items():
            try:
                await provider.close()
            except Exception:
                log.exception("provider %s failed to close", name)
        log.info("worker %s stopped", self.id)

    # ----- loops ---------------------------------------------------------------------------

    async def _claim_turn(self) -> float:
        """Claim what fits; the wait until the next look (a new task wakes it sooner)."""
        if self._stopping:
            return 3600.0
        await self._claim_once()
        return await self._idle_seconds()

    async def _claim_once(self) -> None:
        lease_ms = int(self.settings.lease_seconds * 1000)
        for name, provider in self.providers.items():
            free = provider.concurrency - self._running_count(name) \
                if self._takes_work(name) else 0
            while free > 0 and not self._stopping:
                batch = await self.tasks.claim(
                    self.id, name, min(free, CLAIM_BATCH), now=now_ms(), lease_ms=lease_ms
                )
                for record in batch:
                    self._launch(record, name, provider)
                free -= len(batch)
                if len(batch) < CLAIM_BATCH:
                    break

    async def _idle_seconds(self) -> float:
        """Until the next poll, or sooner when a retry we could take falls due.

        With every slot busy there is nothing to claim: a finishing run sets the wake event.
        A task that is runnable now but was not claimed (another worker's, or cancelled and
        awaiting the sweeper) must not make this loop spin either.
        """
        wait = self.settings.poll_interval
        free = [name for name, provider in self.providers.items()
                if provider.concurrency > self._running_count(name) and self._takes_work(name)]
        if free:
            earliest = await self.tasks.next_run_after(free)
            if earliest is not None and earliest > now_ms():
                wait = min(wait, max(0.01, (earliest - now_ms()) / 1000))
        return wait

    def _running_count(self, provider: str) -> int:
        return sum(1 for r in self._running.values() if r.provider == provider)

    async def _lease_turn(self) -> float:
        self._enforce_cancel_deadlines()
        if time.monotonic() - self._last_renewal >= self.settings.heartbeat_seconds:
            await self._renew_leases()
            # Idle or not: readiness and /metrics tell a live worker by this row.
            await record_heartbeat(self.tasks.db, self.id, now=now_ms())
            self._last_renewal = time.monotonic()
        elif self._running:
            await self._check_cancellations()
        return CANCEL_CHECK_SECONDS

    async def _renew_leases(self) -> None:
        # Judge only the runs that existed before the statement: a task claimed while it ran
        # is not in its answer, and is not lost.
        running_before = dict(self._running)
        if not running_before:
            return
        owned = await self.tasks.heartbeat(
            self.id, running_before, now=now_ms(),
            lease_ms=int(self.settings.lease_seconds * 1000),
        )
        for task_id, running in running_before.items():
            if task_id not in owned:
                if running.job is not None and not running.job.done():
                    log.warning("task %s: lease lost; abandoning this run", task_id)
                    running.lost = True
                    running.job.cancel()
            elif owned[task_id]:
                self._request_cancel(running)

    async def _check_cancellations(self) -> None:
        flagged = await self.tasks.cancel_requested(self.id)
        for task_id in flagged:
            running = self._running.get(task_id)
            if running is not None:
                self._request_cancel(running)

    def _request_cancel(self, running: _Running) -> None:
        if not running.ctx.cancelled.is_set():
            running.ctx.cancelled.set()
            running.cancel_deadline = time.monotonic() + max(5.0, self.settings.heartbeat_seconds)

    def _enforce_cancel_deadlines(self) -> None:
        now = time.monotonic()
        for running in self._running.values():
            if running.cancel_deadline is not None and now > running.cancel_deadline:
                if running.job is not None and not running.job.done():
                    running.job.cancel()

    async def _sweep_turn(self) -> float:
        self.provider_status()  # keeps the provider state metric true in every worker
        now = now_ms()
        requeued, failed = await self.tasks.sweep(now=now)
        failed += await self.tasks.fail_unclaimed_cancelled(now=now)
        if requeued or failed:
            log.info("sweeper: %d task(s) re-queued, %d failed", requeued, failed)
            self._wake.set()
            self.deliverer.wake()
        return SWEEP_SECONDS

    async def _retention_turn(self) -> float:
        deleted = await delete_expired(self.tasks.db, self.storage, now_ms=now_ms(),
                                       retention_days=self.settings.retention_days)
        if deleted.tasks:
            metrics.TASKS_DELETED.inc(deleted.tasks)
            log.info("retention: deleted %d finished task(s) and %d file(s) older than %g "
                     "days", deleted.tasks, deleted.files, self.settings.retention_days)
        return self.settings.retention_interval_seconds * random.uniform(0.9, 1.1)

    # ----- one task ------------------------------------------------------------------------

    def _launch(self, record: TaskRecord, name: str, provider: Provider) -> None:
        async def save_state(state: dict[str, Any]) -> None:
            if not await self.tasks.save_state(record, state):
                raise TaskCancelled("lease lost")

        async def report(percent: float | None) -> None:
            await self._report(running, percent)

        ctx = TaskContext(
            task_id=record.id,
            attempt=record.attempts,
            state=record.provider_state or {},
            storage=self.storage,
            work_dir=self.settings.data_dir / "work" / record.id,
            save_state=save_state,
            report=report,
        )
        if record.cancel_requested:
            ctx.cancelled.set()
        running = _Running(record=record, provider=name, ctx=ctx,
                           processing=record.status == TaskStatus.PROCESSING)
        self._running[record.id] = running
        running.job = asyncio.create_task(self._execute(running, provider),
                                          name=f"openkling-task-{record.id}")

    async def _execute(self, running: _Running, provider: Provider) -> None:
        record = running.record
        try:
            route = self.models.resolve(record.model_name)
            spec = spec_from_stored(record.id, record.request, route.options, kind=record.kind)
            result = await provider.run(spec, running.ctx)
            await self._succeed(running, result)
        except TaskCancelled:
            await self._persist(lambda: self.tasks.fail(record, message=CANCELLED_MESSAGE,
                                                        now=now_ms()))
            self._observe(running, TaskStatus.FAILED)
        except ProviderError as exc:
            message = str(exc) or "generation failed"
            await self._persist(lambda: self.tasks.fail(record, message=message, now=now_ms()))
            self._observe(running, TaskStatus.FAILED)
        except TransientProviderError as exc:
            await self._retry_or_fail(running, exc)
        except asyncio.CancelledError:
            await self._on_interrupted(running)
        except Exception as exc:
            full = disk_full_message(exc)
            if full is not None:  # retrying cannot make room: fail once, say why
                log.error("task %s failed: %s (%s)", record.id, full, exc)
                await self._persist(lambda: self.tasks.fail(record, message=full, now=now_ms()))
                self._observe(running, TaskStatus.FAILED)
            elif is_database_unavailable(exc):  # not the task's fault: no attempt spent
                await self._retry_or_fail(running, TransientProviderError(
                    "the database was unavailable", retry_after=1.0, count_attempt=False))
            else:
                log.exception("task %s: provider %s crashed", record.id, running.provider)
                await self._retry_or_fail(running, TransientProviderError(
                    f"internal error in provider {running.provider}: {type(exc).__name__}"))
        finally:
            if running.flush is not None:
                running.flush.cancel()
            shutil.rmtree(running.ctx.work_dir, ignore_errors=True)
            self._running.pop(record.id, None)
            self._wake.set()
            self.deliverer.wake()

    async def _succeed(self, running: _Running, result: GenerationResult) -> None:
        if not result.videos and not result.images and not result.audios:
            raise ProviderError("the provider returned no video, image or sound")
        stored = result.to_record()
        done = await self._persist(lambda: self.tasks.succeed(
            running.record, result=stored, now=now_ms()))
        self._observe(running, TaskStatus.SUCCEED)
        if done is None:
            log.warning("task %s: finished after losing its lease; result discarded",
                        running.record.id)

    async def _retry_or_fail(self, running: _Running, exc: TransientProviderError) -> None:
        record = running.record
        if exc.count_attempt and record.attempts >= record.max_attempts:
            await self._persist(lambda: self.tasks.fail(
                record, message=f"{exc} (gave up after {record.attempts} attempts)",
                now=now_ms()))
            self._observe(running, TaskStatus.FAILED)
            return
        delay = exc.retry_after
        if delay is None:
            delay = backoff_seconds(record.attempts, base=self.settings.retry_base_seconds,
                                    cap=self.settings.retry_max_seconds)
        log.info("task %s: retrying in %.1fs (%s)", record.id, delay, exc)
        run_after = now_ms() + int(delay * 1000)
        await self._persist(lambda: self.tasks.release(
            record, run_after=run_after, error=str(exc), count_attempt=exc.count_attempt))
        self._observe(running, "retry")

    async def _on_interrupted(self, running: _Running) -> None:
        record = running.record
        if running.lost:
            return  # someone else holds the task now
        try:
            if running.ctx.cancelled.is_set():
                await self.tasks.fail(record, message=CANCELLED_MESSAGE, now=now_ms())
            else:  # shutdown: hand the task back without spending an attempt
                await self.tasks.release(
                    record, run_after=now_ms(), error="worker shut down", count_attempt=False
                )
        except Exception as exc:  # the lease expires and the sweeper re-queues it
            log.warning("task %s: could not hand back (%s: %s)", record.id,
                        type(exc).__name__, exc)

    async def _flush_progress(self, running: _Running, delay: float) -> None:
        """Write the progress held back by the write interval once the interval is over
        (a no-op once the task has ended: the store writes progress only while processing)."""
        await asyncio.sleep(delay)
        running.flush = None
        pending, running.pending = running.pending, None
        if pending is not None and pending > running.progress and \
                self._running.get(running.record.id) is running:
            await self._report(running, pending)

    async def _report(self, running: _Running, percent: float | None) -> None:
        now = time.monotonic()
        progress = running.progress if percent is None else int(percent)
        if running.processing:
            if percent is None or progress == running.progress:
                return
            waited = now - running.last_write
            if waited < PROGRESS_WRITE_SECONDS and progress < 100:
                # Held back, not dropped: a short render would otherwise show 0 until done.
                running.pending = progress
                if running.flush is None:
                    running.flush = asyncio.create_task(
                        self._flush_progress(running, PROGRESS_WRITE_SECONDS - waited),
                        name=f"openkling-progress-{running.record.id}")
                return
            running.pending = None
        try:
            if running.processing:
                await self.tasks.save_progress(running.record, progress=progress, now=now_ms())
            else:
                await self.tasks.start_processing(running.record, progress=progress,
                                                  now=now_ms())
                self.deliverer.wake()
        except Exception as exc:  # progress is news, not state: the run goes on
            if not is_database_unavailable(exc):
                raise
            self._progress.failed(exc)
            return
        self._progress.succeeded()
        running.processing = True
        running.progress = progress
        running.last_write = now

    async def _persist(self, write: Callable[[], Awaitable[T]]) -> T:
        """A task's outcome is in hand: write it through a database outage rather than
        lose it and render again. Retries until the statement runs (it is compare-and-set on
        the lease, so a write after the lease moved on changes nothing) or the worker stops."""
        return await keep_trying(write, down=is_database_unavailable, failure=self._outcomes,
                                 stopping=lambda: self._stopping)

    def _observe(self, running: _Running, outcome: str) -> None:
        record = running.record
        metrics.RENDER_SECONDS.labels(running.provider, record.model_name, outcome).observe(
            time.monotonic() - running.started)
        if outcome != "retry":
            metrics.TASK_ATTEMPTS.labels(running.provider, outcome).observe(record.attempts)
