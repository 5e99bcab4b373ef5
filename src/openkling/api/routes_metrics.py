"""`GET /metrics`: Prometheus text format, for a bearer token or for loopback clients only."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from starlette.responses import Response

from openkling.api.deps import ServicesDep
from openkling.clock import now_ms
from openkling.core.errors import Code, KlingError
from openkling.observability import metrics
from openkling.store.stats import task_stats
from openkling.store.workers import liveness

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Bearer `OPENKLING_METRICS_TOKEN` when set; otherwise loopback clients only.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus_metrics(request: Request, services: ServicesDep) -> Response:
    authorize(request, request.app.state.metrics_token)
    now = now_ms()
    stats: metrics.TaskStats | None
    try:
        stats = await task_stats(services.db, now_ms=now)
        workers = await liveness(services.db, now=now, stale_ms=services.worker_stale_ms)
    except Exception:
        stats = None  # the database is down: the process's own metrics still matter most
    else:
        stats.workers_alive = workers.alive
        age = workers.age_seconds(now)
        stats.worker_heartbeat_age_seconds = float("inf") if age is None else age
    return Response(metrics.render(stats), media_type=metrics.CONTENT_TYPE_LATEST)


def authorize(request: Request, token: str | None) -> None:
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise KlingError(Code.AUTH_FAILED, "metrics: a valid bearer token is required",
                             headers={"WWW-Authenticate": "Bearer"})
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise KlingError(Code.NO_ACCESS, "metrics: only loopback clients may read /metrics "
                         "unless OPENKLING_METRICS_TOKEN is set")
