"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from openkling.api.deps import ServicesDep
from openkling.store import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and migrations current")
async def readyz(services: ServicesDep) -> JSONResponse:
    try:
        current = await migrate.is_current(services.db)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, 503)
    if not current:
        return JSONResponse({"status": "unavailable", "database": "migrations pending"}, 503)
    return JSONResponse({"status": "ok"})
