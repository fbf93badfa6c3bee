"""What is served, and the admin reload that swaps in new champions."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from forecast import scoring
from serving.deps import AdminKey, ViewerKey
from serving.schemas import ModelsResponse, ServedModelOut

router = APIRouter(tags=["models"])


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


@router.post("/admin/reload", summary="Load the current champions and swap them in atomically")
async def reload_models(request: Request, _: AdminKey) -> ModelsResponse:
    app = request.app
    # Loading runs off the event loop; requests keep scoring with the old set meanwhile, and the
    # swap is one reference assignment, so no request in flight sees a half-loaded set.
    fresh = await asyncio.to_thread(scoring.load_model_set, app.state.settings, app.state.engine)
    app.state.models = fresh
    return describe(fresh)
