"""Keeps every in-flight upstream task fresh with a bounded amount of work.

Three sources of news, cheapest first:
- callbacks: the upstream POSTs to our callback route, which records an event; every
  `event_interval` the tracker reads new events (one indexed range query) and polls those
  tasks at once;
- list sweeps: every `list_interval` (with jitter) one `?pageNum=&pageSize=500` query per
  channel refreshes up to 500 tasks, page after page until every tracked task was seen;
- single polls for what the sweep missed: soon after submit, then slower (x1.6 per poll up to
  `max_poll_interval`, with jitter), by a fixed pool of pollers and a per-channel pacer.
The running task's coroutine only waits on its entry's event; it never polls itself.

Every loop (scheduler, pollers, a list sweep per channel, callback events) is a turn run by
the process's supervisor (`core/loops.py`, attached by the worker): a turn that raises
(database, storage, network) is logged the repeating-failure way and retried with a jittered
backoff; a loop that dies shows in readiness and stops the process.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable

from openkling.core.backoff import backoff_seconds
from openkling.core.loops import Loops
from openkling.core.provider import EventSource
from openkling.errors import OpenKlingError
from openkling.observability.metrics import RELAY_INFLIGHT
from openkling.providers.kling.channels import Channel, ChannelPool
from openkling.providers.kling.relay_options import KlingOptions
from openkling.providers.kling.upstream import (
    UpstreamBusy,
    UpstreamError,
    UpstreamNotFound,
    UpstreamTask,
)

log = logging.getLogger("openkling.providers.kling")

#: Each single poll of a task waits this much longer than the one before (up to the cap).
_POLL_SLOWDOWN = 1.6
_NOT_FOUND_LIMIT = 3
_LIST_OFF_SECONDS = 300.0


class TrackingError(OpenKlingError):
    """Tracking an upstream task ended without a terminal status."""


class Tracked:
    """One upstream task being watched; `changed` fires on every new status or progress."""

    __slots__ = ("changed", "channel", "created_at", "error", "family", "latest", "misses",
                 "next_poll", "polls", "started", "task_id", "upstream_id")

    def __init__(self, channel: Channel, family: str, upstream_id: str, task_id: str,
                 latest: UpstreamTask | None) -> None:
        self.channel = channel
        self.family = family
        self.upstream_id = upstream_id
        self.task_id = task_id
        self.latest = latest
        self.error: Exception | None = None
        self.changed = asyncio.Event()
        self.started = time.monotonic()
        self.next_poll = 0.0
        self.polls = 0
        self.misses = 0
        self.created_at = latest.created_at if latest else 0

    @property
    def done(self) -> bool:
        return self.error is not None or (self.latest is not None and self.latest.terminal)


class Tracker:
    def __init__(self, options: KlingOptions, pool: ChannelPool,
                 events: EventSource | None = None) -> None:
        self.options = options
        self.pool = pool
        self.events = events
        self._by_channel: dict[str, dict[str, Tracked]] = {n: {} for n in pool.channels}
        self._by_task: dict[str, Tracked] = {}
        self._heap: list[tuple[float, int, Tracked]] = []
        self._seq = 0
        self._due: asyncio.Queue[Tracked] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._list_off_until: dict[tuple[str, str], float] = {}
        self._started = False
        self._last_event: int | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, loops: Loops) -> None:
        """Run the tracking loops under `loops` (the process's supervisor)."""
        if self._started:
            return
        self._started = True
        loops.spawn("relay-scheduler", self._schedule_turn, wake=self._wake)
        for i in range(self.options.poll_concurrency):
            loops.spawn(f"relay-poller-{i}", self._poll_turn)
        for name in self.pool.channels:
            loops.spawn(f"relay-list-{name}", self._list_turn(name))
        if self.events is not None:
            loops.spawn("relay-events", self._event_turn)

    @property
    def size(self) -> int:
        return len(self._by_task)

    # -- tracking --------------------------------------------------------------------------
    def track(self, channel: Channel, family: str, upstream_id: str, task_id: str,
              latest: UpstreamTask | None = None) -> Tracked:
        entry = Tracked(channel, family, upstream_id, task_id, latest)
        old = self._by_task.pop(task_id, None)
        if old is not None:
            self._by_channel[old.channel.name].pop(old.upstream_id, None)
        peers = self._by_channel[channel.name]
        peers[upstream_id] = entry
        self._by_task[task_id] = entry
        if sum(1 for e in peers.values() if e.family == family) >= 2:
            delay = self.options.max_poll_interval  # list sweeps cover it; polls are a fallback
        elif latest is None:  # adopted without a status: ask at once
            delay = 0.0
        else:
            delay = self.options.first_poll_after
        self._reschedule(entry, delay * random.uniform(0.8, 1.2))
        RELAY_INFLIGHT.set(len(self._by_task))
        return entry

    def untrack(self, entry: Tracked) -> None:
        self._by_channel[entry.channel.name].pop(entry.upstream_id, None)
        if self._by_task.get(entry.task_id) is entry:
            del self._by_task[entry.task_id]
        RELAY_INFLIGHT.set(len(self._by_task))

    def poll_soon(self, task_id: str) -> None:
        """A callback said something changed: query the task now instead of on schedule."""
        entry = self._by_task.get(task_id)
        if entry is not None:
            self._reschedule(entry, 0.0)

    def _reschedule(self, entry: Tracked, delay: float) -> None:
        entry.next_poll = time.monotonic() + delay
        self._seq += 1
        heapq.heappush(self._heap, (entry.next_poll, self._seq, entry))
        if delay <= 0 or (self._heap and self._heap[0][2] is entry):
            self._wake.set()

    def _interval(self, entry: Tracked) -> float:
        return backoff_seconds(entry.polls + 1, base=self.options.first_poll_after,
                               cap=self.options.max_poll_interval, factor=_POLL_SLOWDOWN,
                               jitter=0.25)

    def _apply(self, entry: Tracked, task: UpstreamTask) -> None:
        if task.created_at:
            entry.created_at = task.created_at
        previous = entry.latest
        entry.latest = task
        if previous is None or (previous.status, previous.progress) != (task.status,
                                                                        task.progress):
            entry.changed.set()
        if task.terminal:
            self.untrack(entry)

    def _fail(self, entry: Tracked, error: Exception) -> None:
        entry.error = error
        entry.changed.set()
        self.untrack(entry)

    # -- loop turns --------------------------------------------------------------------------
    async def _schedule_turn(self) -> float:
        """Hand the polls that fell due to the pollers; wait until the next one (a new
        schedule wakes it sooner)."""
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            due, _, entry = heapq.heappop(self._heap)
            if due != entry.next_poll or entry.done or \
                    self._by_task.get(entry.task_id) is not entry:
                continue  # superseded by a later schedule, or finished
            self._due.put_nowait(entry)
        delay = self._heap[0][0] - now if self._heap else 1.0
        return min(max(delay, 0.01), 1.0)

    async def _poll_turn(self) -> float:
        entry = await self._due.get()
        if entry.done or self._by_task.get(entry.task_id) is not entry:
            return 0.0
        try:
            await self._poll(entry)
        except Exception:  # the supervisor logs it; the task is asked about again later
            self._reschedule(entry, self.options.max_poll_interval)
            raise
        return 0.0

    async def _poll(self, entry: Tracked) -> None:
        if time.monotonic() - entry.started > self.options.max_task_seconds:
            self._fail(entry, TrackingError(
                f"upstream task did not finish within {self.options.max_task_seconds:.0f} s"))
            return
        await entry.channel.pacer.acquire()
        entry.polls += 1
        try:
            task = await entry.channel.client.get(entry.family, entry.upstream_id)
        except UpstreamNotFound as exc:
            entry.misses += 1
            if entry.misses >= _NOT_FOUND_LIMIT:
                self._fail(entry, exc)
            else:
                self._reschedule(entry, self._interval(entry))
            return
        except UpstreamBusy as exc:
            self._reschedule(entry, max(exc.retry_after or 0.0, self._interval(entry)))
            return
        except UpstreamError as exc:
            log.info("status query failed: %s", exc)
            self._reschedule(entry, self._interval(entry))
            return
        entry.misses = 0
        self._apply(entry, task)
        if not entry.done:
            self._reschedule(entry, self._interval(entry))

    def _list_turn(self, name: str) -> Callable[[], Awaitable[float]]:
        channel = self.pool.channels[name]

        async def turn() -> float:
            """Sweep each family with two or more tracked tasks on this channel."""
            by_family: dict[str, dict[str, Tracked]] = {}
            for upstream_id, entry in list(self._by_channel[name].items()):
                by_family.setdefault(entry.family, {})[upstream_id] = entry
            for family, tracked in by_family.items():
                if len(tracked) < 2 or time.monotonic() < self._list_off_until.get(
                        (name, family), 0.0):
                    continue
                try:
                    await self._sweep(channel, family, tracked)
                except UpstreamError as exc:
                    if not isinstance(exc, UpstreamBusy):
                        log.info("list sweep of %s on %s failed, single polls only for a "
                                 "while: %s", family, name, exc)
                        self._list_off_until[(name, family)] = \
                            time.monotonic() + _LIST_OFF_SECONDS
            return self.options.list_interval * random.uniform(0.8, 1.2)

        return turn

    async def _sweep(self, channel: Channel, family: str, tracked: dict[str, Tracked]) -> None:
        """Refresh tracked tasks page by page, newest first, until all were seen."""
        size = self.options.list_page_size
        unseen = set(tracked)
        known = [e.created_at for e in tracked.values() if e.created_at]
        oldest = min(known) if known and len(known) == len(tracked) else 0
        for page in range(1, self.options.max_list_pages + 1):
            await channel.pacer.acquire()
            tasks = await channel.client.list_page(family, page, size)
            for task in tasks:
                entry = tracked.get(task.task_id)
                if entry is None:
                    continue
                unseen.discard(task.task_id)
                self._apply(entry, task)
                if not entry.done:  # fresh now: sweeps keep it so, a single poll is a fallback
                    self._reschedule(entry, 3 * self.options.max_poll_interval)
            if not unseen or len(tasks) < size:
                return
            if oldest and tasks and max(t.created_at for t in tasks) < oldest - 60_000:
                return  # past the oldest task we track: the rest is history

    async def _event_turn(self) -> float:
        """Poll at once the tasks the upstream called back about (recorded by the API)."""
        assert self.events is not None
        if self._last_event is None:  # events older than this worker's start are not needed
            self._last_event = await self.events.latest_id()
            return self.options.event_interval
        for event_id, task_id in await self.events.after(self._last_event):
            self._last_event = max(self._last_event, event_id)
            self.poll_soon(task_id)
        return self.options.event_interval
