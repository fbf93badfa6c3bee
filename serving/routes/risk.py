"""Deals at risk (viewer): high value with a low or falling close probability, or stuck."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from forecast import scoring
from forecast.risk import LISTED, MAX_LISTED
from forecast.risk import deals_at_risk as find_deals_at_risk
from serving.datasets import load_dataset
from serving.deps import DatasetsDep, EngineDep, SettingsDep, ViewerDataset
from serving.group_names import CleanedGroup
from serving.limits import HeavyDep

router = APIRouter(tags=["forecast"])


class AtRiskResponse(BaseModel):
    """`RiskReport.to_dict()`: the flagged deals, riskiest first, with the model's reasons."""

    dataset: str
    as_of: str
    team: str | None
    scorer: str = Field(description="What gave the probabilities (says so when a fallback)")
    method: str
    open_deals: int
    flagged: int
    counts: dict[str, int]
    thresholds: dict[str, Any]
    deals: list[dict[str, Any]] = Field(
        description="Each flagged deal with why, the model's reasons, and its score's `notes` "
        "(a deal older, or longer in its stage, than any open deal the model learnt from)"
    )
    notes: list[str]


def served_deal_model(models: scoring.ModelSet, dataset: str) -> scoring.Served | None:
    """The deal model serving the API (`app.state.models`), when it was set up for this dataset
    (else None: the at-risk list then uses the per-stage win rates known at its date)."""
    served = models.deal
    if served is None or served.source == "fallback" or models.deal_context is None:
        return None
    return served if models.deal_context.dataset == dataset else None


@router.get(
    "/deals/at-risk",
    summary="Open deals at risk, riskiest first, with the reasons from the deal model",
)
async def deals_at_risk(
    request: Request,
    heavy: HeavyDep,
    engine: EngineDep,
    settings: SettingsDep,
    datasets: DatasetsDep,
    dataset: ViewerDataset,
    team: Annotated[str | None, Query(max_length=200), CleanedGroup] = None,
    as_of: Annotated[
        str | None, Query(max_length=40, description="Default: now, or the day after the data ends")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = LISTED,
) -> AtRiskResponse:
    def compute() -> AtRiskResponse:
        data = load_dataset(engine, dataset or settings.deal_dataset, datasets)
        report = find_deals_at_risk(
            data.history,
            served=served_deal_model(request.app.state.models, data.name),
            as_of=as_of or data.now,
            team=team,
            limit=limit,
            settings=settings,
        )
        return AtRiskResponse(dataset=data.name, **report.to_dict())

    return await heavy(compute)
