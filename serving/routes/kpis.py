"""Pipeline KPIs (viewer): the figures the dashboard's funnel and actuals show."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from forecast.date_reach import check_kpi_as_of
from forecast.groups import GroupName
from forecast.kpis import compute_kpis
from serving.datasets import load_dataset
from serving.deps import DatasetsDep, EngineDep, SettingsDep, ViewerDataset
from serving.limits import HeavyDep

router = APIRouter(tags=["forecast"])


class KpiResponse(BaseModel):
    """`KpiReport.to_dict()` of one dataset: the overall row and one row per group / period."""

    dataset: str
    as_of: str = Field(description="When open and closed were judged (default: the data's end)")
    data_end: str | None
    from_snapshot: bool = Field(description="The pipeline was rebuilt as of an earlier date")
    by: str | None
    period: str | None = Field(
        description="month or quarter (null: not split). Per period, deals, open deals, open "
        "value, the funnel and won_of_created (the funnel's last step: of the deals created "
        "in the period, those won) count deals by creation date; won, lost, win rate, sale value, "
        "won revenue, time to close and CSAT by close date (an open deal's CSAT by creation); "
        "time in stage by the date the stay ended"
    )
    stages: dict[str, Any]
    overall: dict[str, Any] = Field(
        description="Deals, outcomes, win rate, average sale value, time to close, velocity, "
        "open pipeline, CSAT, funnel. Each funnel stage: reached (deals that got at least that "
        "far), still_in_stage (open deals that got no further), next_stage, and conversion: of "
        "the deals that left the stage, the share that moved on (moved on / moved on or lost "
        "from it); deals still in it are not counted, so a recent period's rate is not lowered "
        "by deals not yet decided (null: no deal entered the stage, only skipped past it, or "
        "none has left it). won_without_amount: the won deals that won revenue and the average "
        "sale value leave out (a note says so)"
    )
    groups: list[dict[str, Any]]
    notes: list[str] = Field(
        default_factory=list,
        description="What to know to read the figures right (amounts in several currencies, "
        "won deals without an amount)",
    )
    currency: str | None = Field(
        None, description="The one currency the amounts are in; null: several, or not said"
    )


@router.get(
    "/kpis",
    summary="Pipeline KPIs overall and per team / rep / product / region and "
    "month / quarter: funnel and conversion, win rate, average sale value, time to "
    "close, time in stage, velocity, CSAT",
)
async def kpis(
    heavy: HeavyDep,
    engine: EngineDep,
    settings: SettingsDep,
    datasets: DatasetsDep,
    dataset: ViewerDataset,
    by: GroupName | None = None,
    period: Literal["month", "quarter"] | None = None,
    as_of: Annotated[
        str | None,
        Query(
            max_length=40,
            description="A date, e.g. 2017-06-30 (default: the data's last date): after the "
            "data's first deal, and at most FORECAST_FORECAST_HORIZON_DAYS after its end (422)",
        ),
    ] = None,
) -> KpiResponse:
    def compute() -> KpiResponse:
        data = load_dataset(engine, dataset or settings.deal_dataset, datasets)
        check_kpi_as_of(data.history, as_of, settings)
        report = compute_kpis(data.history, by=by, period=period, as_of=as_of)
        return KpiResponse(dataset=data.name, **report.to_dict())

    return await heavy(compute)
