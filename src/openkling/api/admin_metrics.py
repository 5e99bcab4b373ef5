"""The figures an operator wants at a glance (`GET /admin/v1/metrics`, the console's system page).

Task, queue, callback and relay figures come from the database, so they hold for the whole
deployment whichever process wrote them. Request counts (creates, polls) leave nothing in the
database: they are the Prometheus counters `/metrics` exports, read in process — this process's,
or every process's on this host when `PROMETHEUS_MULTIPROC_DIR` is set — and restart at zero
with the process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from openkling.core.families import FAMILIES
from openkling.observability import metrics
from openkling.store.admin import AdminStore
from openkling.store.database import Database
from openkling.store.stats import task_stats
from openkling.vocabulary import DeliveryState, TaskStatus

STATUSES = tuple(status.value for status in TaskStatus)
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
_PREFIXES = ("/v1/", "/kling/v1/")
_CREATES = frozenset(prefix + path for prefix in _PREFIXES for path in FAMILIES)
_POLLS = frozenset(route + "/{task_id}" for route in _CREATES)


async def at_a_glance(db: Database, store: AdminStore, *, now: int) -> dict[str, Any]:
    stats = await task_stats(db, now_ms=now)
    by_status = dict.fromkeys(STATUSES, 0)
    by_family: dict[str, dict[str, int]] = {}
    for family, _, status, count in stats.counts:
        by_status[status] = by_status.get(status, 0) + count
        row = by_family.setdefault(family, dict.fromkeys(STATUSES, 0))
        row[status] = row.get(status, 0) + count
    minute, hour, day = await store.created_since([now - MINUTE_MS, now - HOUR_MS, now - DAY_MS])
    deliveries = await store.delivery_counts(failed_since=now - HOUR_MS)
    by_route = await store.unfinished_by_route()
    return {
        "at": now,
        "tasks": {"by_status": by_status, "by_family": by_family},
        "queue": {"depth": stats.queue_depth,
                  "oldest_submitted_age_seconds": round(stats.oldest_submitted_age_seconds, 3)},
        "created": {"last_minute": minute, "last_hour": hour, "last_day": day},
        "callbacks": {DeliveryState.PENDING.value: deliveries.pending,
                      DeliveryState.DELIVERED.value: deliveries.delivered,
                      DeliveryState.FAILED.value: deliveries.failed,
                      "failed_last_hour": deliveries.failed_since},
        "relay": {
            "in_flight": sum(n for (provider, channel), n in by_route.items()
                             if provider == "kling" and channel is not None),
            "waiting_for_channel": by_route.get(("kling", None), 0),
        },
        "requests": request_counts(),
    }


def request_counts() -> dict[str, Any]:
    """Create and poll requests answered since the process (or host's processes) started."""
    creates_ok = creates_refused = polls = 0
    for labels, value in _http_requests():
        route, method, status = labels.get("route"), labels.get("method"), labels.get("status")
        if method == "POST" and route in _CREATES:
            if str(status).startswith("2"):
                creates_ok += int(value)
            else:
                creates_refused += int(value)
        elif method == "GET" and route in _POLLS:
            polls += int(value)
    scope = "host" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "process"
    return {"scope": scope, "creates_accepted": creates_ok, "creates_refused": creates_refused,
            "polls": polls}


def _http_requests() -> Iterator[tuple[dict[str, str], float]]:
    families: Iterable[Any]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        families = registry.collect()
    else:
        families = metrics.HTTP_REQUESTS.collect()
    for family in families:
        if family.name != "openkling_http_requests":
            continue
        for sample in family.samples:
            if sample.name == "openkling_http_requests_total":
                yield sample.labels, sample.value
