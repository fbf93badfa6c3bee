"""What is served, and the admin reload that swaps in new champions."""

from __future__ import annotations

import asyncio
import dataclasses

from fastapi import APIRouter, FastAPI, Request

from forecast import scoring
from forecast.errors import Busy, ModelNotReady
from serving.deps import AdminKey, ViewerKey
from serving.schemas import ModelsResponse, ServedModelOut

router = APIRouter(tags=["models"])

#: How the kept set's `problems` say that a reload was refused (the latest refusal only).
NOT_APPLIED = "reload not applied"


def describe(models: scoring.ModelSet) -> ModelsResponse:
    out = []
    for served in (models.lead, models.deal):
        if served is None:
            continue
        details = served.details or {}
        out.append(
            ServedModelOut(
                kind=served.kind,
                name=served.name,
                version=served.version,  # type: ignore[arg-type]
                source=served.source,
                method=served.scorer.method,  # type: ignore[arg-type]
                label=served.scorer.label,
                trained_at=details.get("trained_at"),
                holdout=details.get("metrics") or {},
            )
        )
    return ModelsResponse(loaded_at=models.loaded_at, models=out, problems=models.problems)


@router.get(
    "/models",
    summary="The models being served: versions, when trained, holdout "
    "metrics against the baselines",
)
def served_models(request: Request, _: ViewerKey) -> ModelsResponse:
    return describe(request.app.state.models)


@router.post(
    "/admin/reload",
    summary="Load the current champions and swap them in atomically",
    description="The load is bounded by the MLflow timeout settings. A set that would serve "
    "worse than the one serving (a fallback standing in for a champion, say with the registry "
    "unreachable) is not swapped in: 503 saying why, and the serving set keeps serving. A "
    "reload asked for while one runs gets 503 with Retry-After.",
)
async def reload_models(request: Request, _: AdminKey) -> ModelsResponse:
    app = request.app
    lock = _reload_lock(app)
    if lock.locked():  # one load at a time: a second would wait on the same registry again
        raise Busy("a reload is already running", app.state.settings.retry_after_seconds)
    async with lock:
        # Loading runs off the event loop; requests keep scoring with the old set meanwhile,
        # and the swap is one reference assignment, so no request in flight sees a half-loaded
        # set.
        fresh = await asyncio.to_thread(
            scoring.load_model_set, app.state.settings, app.state.engine
        )
    current = app.state.models
    if fresh.degraded and (current.lead or current.deal) and not current.degraded:
        refused = f"{NOT_APPLIED} ({_when(fresh)}): " + "; ".join(fresh.degraded)
        details = "; ".join(fresh.problems)
        kept = [p for p in current.problems if not p.startswith(NOT_APPLIED)]
        note = f"{refused} ({details})" if details else refused
        app.state.models = dataclasses.replace(current, problems=[*kept, note])
        raise ModelNotReady(
            f"{refused}; the models loaded at {_when(current)} keep serving "
            "(GET /readyz with a viewer's key says more)"
        )
    app.state.models = fresh
    return describe(fresh)


def _reload_lock(app: FastAPI) -> asyncio.Lock:
    """The app's reload lock, made on first use (no await between the look and the make)."""
    lock = getattr(app.state, "reload_lock", None)
    if lock is None:
        lock = app.state.reload_lock = asyncio.Lock()
    return lock


def _when(models: scoring.ModelSet) -> str:
    return f"{models.loaded_at:%Y-%m-%d %H:%M:%S} UTC"
