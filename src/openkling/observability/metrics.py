"""Prometheus metrics: one definition each, names starting `openkling_`.

Counters and histograms are recorded where the events happen, in whichever process they
happen. With `PROMETHEUS_MULTIPROC_DIR` set (a folder shared by every openkling process on a
host, emptied before they start), `render()` adds up all of them, so `GET /metrics` on the API
also shows what `openkling worker` processes on that host did. Task counts and queue age come
from the database at scrape time (`TaskStats`), so they are right whichever process wrote them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import REGISTRY, Collector

__all__ = ["CONTENT_TYPE_LATEST", "TaskStats", "render"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RENDER_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)

HTTP_REQUESTS = Counter(
    "openkling_http_requests_total", "HTTP requests answered, by route template and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "openkling_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["route", "method", "status"], buckets=_LATENCY_BUCKETS,
)
RENDER_SECONDS = Histogram(
    "openkling_render_duration_seconds",
    "Wall time of one provider run (one attempt), by outcome: succeed, failed, retry.",
    ["provider", "model", "outcome"], buckets=_RENDER_BUCKETS,
)
TASK_ATTEMPTS = Histogram(
    "openkling_task_attempts", "Attempts a task took when it finished.",
    ["provider", "status"], buckets=(1, 2, 3, 5, 10),
)
PROVIDER_STATE = Gauge(
    "openkling_provider_state", "1 for the provider's current state (loading, ready, failed).",
    ["provider", "state"], multiprocess_mode="livemax",
)
CALLBACK_DELIVERIES = Counter(
    "openkling_callback_deliveries_total",
    "Callback delivery attempts by outcome: delivered, retry, failed (given up).",
    ["outcome"],
)
SLOW_CLIENTS_CLOSED = Counter(
    "openkling_slow_clients_closed_total",
    "Connections closed for being too slow: `handshake` (a TLS handshake not complete within "
    "the head time), `head` (request line and headers not complete in "
    "time), `body` (body not complete in time), `evicted` (waiting for a request while the "
    "connection cap was reached), `refused` (over the cap, nothing to evict).",
    ["reason"],
)
RELAY_UPSTREAM_REQUESTS = Counter(
    "openkling_relay_upstream_requests_total",
    "Requests the Kling relay made upstream, by operation and outcome (ok or error).",
    ["operation", "outcome"],
)
RELAY_INFLIGHT = Gauge(
    "openkling_relay_inflight_tasks", "Relay tasks submitted upstream and not finished.",
    multiprocess_mode="livesum",
)
MODEL_PROCESS_RESTARTS = Counter(
    "openkling_model_process_restarts_total", "Model processes started again after one ended.",
    ["provider"],
)
LOOP_FAILURES = Counter(
    "openkling_loop_failures_total", "Failed turns of a background loop (it retries).",
    ["loop"],
)
TASKS_DELETED = Counter(
    "openkling_retention_deleted_tasks_total", "Finished tasks deleted by retention.",
)


def set_provider_state(provider: str, state: str) -> None:
    for candidate in ("loading", "ready", "failed"):
        PROVIDER_STATE.labels(provider, candidate).set(1 if candidate == state else 0)


def process_ended() -> None:
    """In multiprocess mode, drop this process's live gauges (provider state, relay tasks in
    flight) from the shared folder, so the others no longer report them; its counters stay
    (they are totals). Called when a process stops; one killed outright leaves them until
    the folder is emptied at the next start."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@dataclass
class TaskStats:
    """What the database says at scrape time."""

    counts: list[tuple[str, str, str, int]] = field(default_factory=list)
    """(family, model, status, tasks)"""
    queue_depth: int = 0
    oldest_submitted_age_seconds: float = 0.0
    workers_alive: int = 0
    """Workers whose last heartbeat is within `worker_stale_seconds`."""
    worker_heartbeat_age_seconds: float = float("inf")
    """Since the newest heartbeat of any worker; +Inf when none was ever recorded."""


class _TaskCollector(Collector):
    def __init__(self, stats: TaskStats) -> None:
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        tasks = GaugeMetricFamily("openkling_tasks", "Tasks stored, by family, model and status.",
                                  labels=["family", "model", "status"])
        for family, model, status, count in self.stats.counts:
            tasks.add_metric([family, model, status], count)
        yield tasks
        yield GaugeMetricFamily("openkling_queue_depth", "Tasks submitted and not yet running.",
                                value=self.stats.queue_depth)
        yield GaugeMetricFamily(
            "openkling_queue_oldest_age_seconds",
            "Age of the oldest task waiting to run (0 when none waits).",
            value=self.stats.oldest_submitted_age_seconds,
        )
        yield GaugeMetricFamily(
            "openkling_workers_alive",
            "Worker processes whose last heartbeat is within OPENKLING_WORKER_STALE_SECONDS.",
            value=self.stats.workers_alive,
        )
        yield GaugeMetricFamily(
            "openkling_worker_heartbeat_age_seconds",
            "Seconds since any worker last heartbeated (+Inf when none ever did).",
            value=self.stats.worker_heartbeat_age_seconds,
        )


def render(stats: TaskStats | None) -> bytes:
    """The exposition text: every process's counters (one process's when not multiprocess)
    plus the database's task figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if stats is not None:
        tasks = CollectorRegistry()
        tasks.register(_TaskCollector(stats))
        text += generate_latest(tasks)
    return text
