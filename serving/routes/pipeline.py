"""The waterfalls (viewer role): how the pipeline at one date became the pipeline at a later one,
per group, with the deals behind each bar (JSON, or every deal as CSV); and why a period's
forecast moved between two dates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from forecast.date_reach import check_reach
from forecast.errors import InvalidInput
from forecast.forecasting.forecast_waterfall import forecast_waterfall
from forecast.groups import GroupName
from forecast.periods import parse_period
from forecast.waterfall import PipelineWaterfall, deal_records
from serving.dashboard.export import to_csv
from serving.datasets import cached_waterfall, load_dataset
from serving.deps import DatasetsDep, EngineDep, SettingsDep, ViewerDataset
from serving.group_names import CleanedGroup
from serving.limits import HeavyDep

router = APIRouter(tags=["forecast"])
#: The most deals listed per bar in JSON (the CSV holds every deal).
MAX_DEALS_PER_BAR = 500
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown API key"},
    403: {
        "description": "The key's role may not read the pipeline, or it is bound to another dataset"
    },
    404: {"description": "No such dataset, or no such group"},
    422: {"description": "A bad date, period or grouping; the message names it"},
    503: {"description": "Busy; retry after `Retry-After` seconds"},
}


class WaterfallResponse(BaseModel):
    """`PipelineWaterfall.to_dict()`: each waterfall's start, bars and end (amounts), and the
    largest deals behind each bar."""

    dataset: str
    from_: str = Field(alias="from")
    to: str
    period: dict[str, str] | None
    by: str | None
    bars: list[dict[str, str]] = Field(description="Bar names in chart order, with their sign")
    total: dict[str, Any] = Field(
        description="start, each bar's amount and end. pushed_out: expected after the period now, "
        "or closed after it; lost_before_period / won_before_period: closed before the period it "
        "was expected in (a won one at the amount won); lost / won: closed inside it"
    )
    groups: list[dict[str, Any]]
    notes: list[str]
    deals: dict[str, list[dict[str, Any]]] = Field(
        description="Per bar, its largest deals (at most `deals_per_bar`)"
    )
    deals_total: dict[str, int] = Field(description="Per bar, how many deals it holds")


class ForecastWaterfallResponse(BaseModel):
    """`ForecastWaterfall.to_dict()`: the period's forecast at both dates, the bars between them
    (they add up to the difference) and the largest changes behind each bar."""

    dataset: str
    period: dict[str, str]
    from_: str = Field(alias="from")
    to: str
    expected_from: float = Field(description="The period's forecast as of `from`")
    bars: dict[str, float] = Field(
        description="Each bar's change; expected_from + the bars = expected_to. won: won inside "
        "the period; lost: lost inside the period or after it; won_before_period / "
        "lost_before_period: closed before the period it was forecast in (its expected part "
        "goes); slipped: its expected close moved out of the period, or won after it; new_deals, "
        "amount_changes, probability_changes; not_yet_created: the line of deals still to be "
        "created"
    )
    expected_to: float = Field(description="The period's forecast as of `to`")
    deals: dict[str, list[dict[str, Any]]] = Field(
        description="Per bar (but not_yet_created), its largest changes: id, change, amounts "
        "and probabilities at both dates"
    )
    notes: list[str]


@router.get(
    "/pipeline/waterfall",
    responses=ERRORS,
    summary="Pipeline waterfall between two dates: start + created + pulled in + increased − "
    "decreased − pushed out − lost before the period − won before the period − lost − won = end, "
    "per group, with the deals behind each bar",
    response_model=WaterfallResponse,
    response_model_by_alias=True,
)
async def get_waterfall(
    request: Request,
    heavy: HeavyDep,
    engine: EngineDep,
    settings: SettingsDep,
    datasets: DatasetsDep,
    dataset: ViewerDataset,
    from_: Annotated[datetime, Query(alias="from", description="The start date")],
    to: Annotated[
        datetime | None, Query(description="The end date (default: the data's last day)")
    ] = None,
    period: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=20,
            examples=["2017-Q3"],
            description="Only deals expected to close in this period (default: every open deal)",
        ),
    ] = None,
    by: Annotated[
        GroupName | None,
        Query(description="One waterfall per group beside the total"),
    ] = None,
    group: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Only this group (needs `by`)"),
        CleanedGroup,
    ] = None,
    deals_per_bar: Annotated[int, Query(ge=0, le=MAX_DEALS_PER_BAR)] = 20,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv: every deal behind every bar")
    ] = "json",
) -> Any:
    if group is not None and by is None:
        raise InvalidInput("group: needs `by` (team, rep, product or region)")
    chosen = parse_period(period) if period is not None else None

    def compute() -> tuple[str, PipelineWaterfall]:
        data = load_dataset(engine, dataset or settings.deal_dataset, datasets)
        end = to if to is not None else data.history.now()
        views = request.app.state.pipeline_views
        return data.name, cached_waterfall(views, data, from_, end, chosen, by, settings)

    name, found = await heavy(compute)
    if group is not None:
        found = found.of_group(group)
    if format == "csv":
        return Response(
            to_csv(deal_records(found.deals)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="pipeline_waterfall.csv"'},
        )
    return {
        "dataset": name,
        **found.to_dict(),
        "deals": found.largest_deals(deals_per_bar),
        "deals_total": found.deal_counts(),
    }


@router.get(
    "/forecast/waterfall",
    responses=ERRORS,
    summary="Why the forecast moved: a period's expected revenue as forecast at two dates, the "
    "difference split into won, lost, won or lost before the period, slipped, new deals, amount "
    "and probability changes and the line of deals not yet created, with the deals behind each "
    "bar",
    response_model=ForecastWaterfallResponse,
    response_model_by_alias=True,
)
async def get_forecast_waterfall(
    heavy: HeavyDep,
    engine: EngineDep,
    settings: SettingsDep,
    datasets: DatasetsDep,
    dataset: ViewerDataset,
    period: Annotated[
        str, Query(min_length=1, max_length=20, examples=["2017-Q3"], description="The period")
    ],
    from_: Annotated[datetime, Query(alias="from", description="The earlier forecast's date")],
    to: Annotated[
        datetime | None,
        Query(description="The later forecast's date (default: the data's last day)"),
    ] = None,
) -> dict[str, Any]:
    chosen = parse_period(period)

    def compute() -> dict[str, Any]:
        data = load_dataset(engine, dataset or settings.deal_dataset, datasets)
        end = to if to is not None else data.history.now()
        check_reach(data.history, {"to": end, "from": from_}, settings)  # named as sent
        moved = forecast_waterfall(data.history, chosen, from_, end, settings=settings)
        return {"dataset": data.name, **moved.to_dict()}

    return await heavy(compute)
