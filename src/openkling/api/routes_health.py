"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from openkling.api.deps import ServicesDep
from openkling.api.services import ApiServices
from openkling.clock import now_ms
from openkling.storage.health import storage_problem
from openkling.store import migrate
from openkling.store.workers import liveness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: a created task can run",
    description="200 when the database answers with the current schema, the storage takes "
    "files, every background loop of this process is alive and not failing, no provider is "
    "still loading and at least one is ready; else 503. The body names each part: `ok` (a "
    "provider: `ready`, `loading: …`, `failed: …`), or why not. An API without a worker "
    "(`--no-worker`) also says whether any worker process is alive (`workers`); that part "
    "informs and alerts, it does not make this process unready.",
)
async def readyz(services: ServicesDep) -> JSONResponse:
    checks = await readiness(services)
    ready = _all_ok(checks)
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        200 if ready else 503)


async def readiness(services: ApiServices) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        current = await migrate.is_current(services.db)
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}: {exc}"[:300]
    else:
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current else "pending: run `openkling migrate`"
    checks["storage"] = await storage_problem(services.storage) or "ok"
    providers: dict[str, str] = {name: f"failed: {why}"
                                 for name, why in services.unavailable.items()}
    worker = services.worker
    if worker is not None:
        checks["loops"] = worker.loops.health()
        states = worker.provider_status()
        providers.update({name: status.describe() for name, status in states.items()})
        loading = sorted(name for name, status in states.items() if status.state == "loading")
        if loading:
            checks["worker"] = f"waiting for {', '.join(loading)} to load: its tasks cannot " \
                               "run yet"
        elif not any(status.state == "ready" for status in states.values()):
            checks["worker"] = "no provider is ready: created tasks cannot run"
    else:  # the tasks this process accepts run in `openkling worker` processes
        checks["workers"] = await _workers(services)
    checks["providers"] = providers
    return checks


async def _workers(services: ApiServices) -> str:
    """`ok` while some worker heartbeated within `worker_stale_seconds`, else since when not."""
    stale_ms = services.worker_stale_ms
    now = now_ms()
    try:
        found = await liveness(services.db, now=now, stale_ms=stale_ms)
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    if found.alive:
        return "ok"
    age = found.age_seconds(now)
    since = "no worker has ever heartbeated" if age is None else \
        f"the last worker heartbeat was {age:.0f} s ago"
    return (f"none alive: {since} (worker_stale_seconds = {stale_ms / 1000:g}); created tasks wait "
            "until a worker runs")


def _all_ok(checks: dict[str, Any]) -> bool:
    for name, value in checks.items():
        if name == "providers":
            continue  # one failed provider does not stop the others' models
        if name == "workers":
            # Every API process would fail at once, taking polls, downloads and cancels out
            # of rotation too; creates still queue. The alert rules page for it instead
            # (docs/operations.md, "No live worker").
            continue
        if isinstance(value, dict):
            if any(state != "ok" for state in value.values()):
                return False
        elif value != "ok":
            return False
    return True
