"""Targets (quotas) per group and period: set by an admin, read by viewers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from forecast.forecasting import targets
from serving.deps import AdminDataset, EngineDep, SettingsDep, ViewerDataset
from serving.target_schemas import (
    TargetBatchRequest,
    TargetLevel,
    TargetListResponse,
    TargetsWrittenResponse,
)

router = APIRouter(tags=["targets"])
ERRORS = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key's role may not do this, or it is bound to another dataset"},
    404: {"description": "No such dataset, or no opportunities dataset in the store"},
    422: {
        "description": "An unknown group, a negative amount or a bad period; the "
        "message names each. Nothing was written"
    },
}


@router.put(
    "/targets",
    responses=ERRORS,
    summary="Set one target or a batch (admin); a target set again is replaced",
)
def put_targets(
    body: TargetBatchRequest,
    engine: EngineDep,
    settings: SettingsDep,
    dataset: AdminDataset,
) -> TargetsWrittenResponse:
    written = targets.set_targets(
        engine,
        [t.model_dump() for t in body.targets],
        dataset=dataset or settings.deal_dataset,
        max_batch=settings.max_batch_size,
    )
    return TargetsWrittenResponse.model_validate(written.to_dict())


@router.get("/targets", responses=ERRORS, summary="The stored targets (viewer)")
def get_targets(
    engine: EngineDep,
    settings: SettingsDep,
    dataset: ViewerDataset,
    period: Annotated[
        str | None,
        Query(min_length=1, max_length=20, examples=["2017-Q3"], description="Only this period"),
    ] = None,
    level: Annotated[TargetLevel | None, Query(description="Only this level")] = None,
) -> TargetListResponse:
    name, rows = targets.list_targets(
        engine, dataset=dataset or settings.deal_dataset, period=period, level=level
    )
    return TargetListResponse(dataset=name, targets=[t.to_dict() for t in rows])
