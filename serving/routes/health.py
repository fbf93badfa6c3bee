"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from forecast.data import store

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Models loaded (and from where) and the store reachable")
def readyz(request: Request) -> JSONResponse:
    models = request.app.state.models
    served = {
        s.kind: {"version": s.version, "source": s.source, "label": s.scorer.label}
        for s in (models.lead, models.deal)
        if s is not None
    }
    checks = {"store": store.is_reachable(request.app.state.engine), "models": bool(served)}
    ready = all(checks.values())
    body = {"ready": ready, "checks": checks, "models": served, "problems": models.problems}
    if any(s["source"] == "local copy" for s in served.values()):
        body["note"] = "the model registry is unreachable: serving the last local copy"
    return JSONResponse(body, status_code=200 if ready else 503)
