"""What is served, and the admin reload that swaps in new champions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from forecast import scoring
from forecast.errors import OtherDataset
from serving import freshness
from serving.deps import AdminKey, ViewerKey, of_dataset
from serving.observability import monitoring_cache
from serving.schemas import ModelsResponse, ServedModelOut

router = APIRouter(tags=["models"])


def describe(models: scoring.ModelSet) -> ModelsResponse:
    out = []
    for served in models.served():
        details = served.details or {}
        out.append(
            ServedModelOut(
                kind=served.kind,
                dataset=served.dataset,
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


def described_for(models: scoring.ModelSet, bound: str | None) -> dict[str, Any]:
    """`describe` as a key bound to dataset `bound` may read it (None: every dataset): that
    dataset's models (`of_dataset`) and problems (`problems_for`), in one place so that GET
    /v1/models and the dashboard's model card never tell a client of another's dataset."""
    described = describe(models).model_dump(mode="json")
    described["models"] = of_dataset(described["models"], bound)
    described["problems"] = models.problems_for(bound)
    return described


@router.get(
    "/models",
    summary="The models being served: versions, when trained, holdout "
    "metrics against the baselines",
)
def served_models(request: Request, key: ViewerKey) -> ModelsResponse:
    return ModelsResponse.model_validate(described_for(request.app.state.models, key.dataset))


class AccuracyOut(BaseModel):
    month: str = Field(description='Month of scoring ("all": every month)', examples=["2024-05"])
    n: int = Field(description="Scored subjects with an outcome after the score (last per month)")
    auc: float | None = Field(description="Realised AUC; null with one outcome only")
    brier: float
    mean_predicted: float
    observed_rate: float


class FeatureDriftOut(BaseModel):
    feature: str
    psi: float
    status: str = Field(description="stable (PSI ≤ 0.1), moderate (≤ 0.2) or shifted")


class DriftOut(BaseModel):
    reference: str = Field(description="What the reference sample is")
    current: str = Field(description="What is compared with it")
    n_reference: int
    n_current: int
    max_psi: float | None
    features: list[FeatureDriftOut]


class KindMonitoringOut(BaseModel):
    kind: str = Field(description="deal or lead")
    dataset: str | None = Field(description="The dataset the model scores")
    source: str | None = Field(
        description="registry, local copy or fallback (a fallback has nothing to monitor)"
    )
    version: str | None
    by_month: list[AccuracyOut]
    overall: AccuracyOut | None
    drift: DriftOut | None
    notes: list[str]


class MonitoringResponse(BaseModel):
    models: list[KindMonitoringOut] = Field(
        description="One entry per served model: leads then deals, by dataset"
    )


@router.get(
    "/models/monitoring",
    summary="How the served models' scores turned out, and whether their inputs drifted",
    description="One entry per served model (its kind, dataset and source; a fallback says it "
    "has nothing to monitor). Realised accuracy: logged scores joined with outcomes that came "
    "after them "
    "(a deal's close, a lead's conversion), each subject's last score per month. Drift: PSI per "
    "input between the model's training rows and what it scored in the last 30 days (or the "
    "open pipeline when few scores were logged). Recomputed at most every few minutes.",
)
def model_monitoring(request: Request, key: ViewerKey) -> MonitoringResponse:
    reports = monitoring_cache(request.app).get()
    models = of_dataset([r.to_dict() for r in reports], key.dataset)
    return MonitoringResponse.model_validate({"models": models})


@router.post(
    "/admin/reload",
    summary="Load the current champions and swap them in atomically",
    description="The load is bounded by the MLflow timeout settings. A set that would serve "
    "worse than the one serving (a fallback standing in for a champion, say with the registry "
    "unreachable) is not swapped in: 503 saying why, and the serving set keeps serving. A "
    "reload asked for while one runs gets 503 with Retry-After. The server also reloads by "
    "itself within FORECAST_RELOAD_CHECK_SECONDS of an import, a CRM push or a champion "
    "trained, promoted or rolled back, loading only what changed; this loads every champion and "
    "every dataset's context again, now (for a change no version shows: a registry rebuilt, a "
    "model file replaced).",
)
async def reload_models(request: Request, admin: AdminKey) -> ModelsResponse:
    """Everything loaded again (`freshness.reload(reuse=False)`): an admin forcing a reload
    expects every model read afresh, whatever the versions say. Every dataset's: an admin key
    bound to one dataset may not (403)."""
    if admin.dataset is not None:
        said = (
            f"this key is bound to dataset '{admin.dataset}'; it may not reload every dataset's "
            "models (an admin key bound to no dataset may)"
        )
        raise OtherDataset(admin.dataset, "*", said=said)
    # Loading runs off the event loop; requests keep scoring with the old set meanwhile, and the
    # swap is one reference assignment, so no request in flight sees a half-loaded set.
    return describe(await freshness.reload(request.app.state, reuse=False))
