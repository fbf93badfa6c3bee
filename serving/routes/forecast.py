"""The revenue forecast (viewer role): per group, with its range and the chance to hit target."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from forecast.data import store
from forecast.errors import Busy, InvalidInput, ModelNotReady
from forecast.forecasting import forecast_runs
from forecast.forecasting.service import forecast_against_targets
from forecast.forecasting.stored_forecasts import find as stored_forecast
from forecast.groups import GroupName, canonical_group
from serving.datasets import load_dataset
from serving.deps import (
    DatasetsDep,
    EngineDep,
    ForecastModelsDep,
    SettingsDep,
    ViewerDataset,
)
from serving.forecast_schemas import ForecastResponse
from serving.group_names import CleanedGroup
from serving.limits import HeavyDep
from serving.warmup import said_while_warming

router = APIRouter(tags=["forecast"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown API key"},
    403: {
        "description": "The key's role may not read forecasts, or it is bound to another dataset"
    },
    404: {"description": "No such dataset, or the group has no deals"},
    409: {"description": "Too little history before as_of to forecast from"},
    422: {"description": "An unknown period, grouping or date; the message names it"},
    503: {
        "description": "Busy: too many forecasts computing, or the server's time budget was "
        "spent, or (said so) the server still warming up, reading the dataset; retry after "
        "`Retry-After` seconds"
    },
}


@router.get(
    "/forecast",
    responses=ERRORS,
    summary="Expected won revenue for a period, P10/P50/P90, the weighted pipeline "
    "beside it and the chance to reach each stored target",
)
async def get_forecast(
    request: Request,
    heavy: HeavyDep,
    engine: EngineDep,
    settings: SettingsDep,
    datasets: DatasetsDep,
    forecast_models: ForecastModelsDep,
    dataset: ViewerDataset,
    period: Annotated[
        str,
        Query(
            min_length=1,
            max_length=20,
            examples=["2017-Q3", "2017-07", "2017"],
            description="A year, quarter or month",
        ),
    ],
    by: Annotated[
        GroupName | None,
        Query(description="One line per group (default: the total only)"),
    ] = None,
    group: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description=("Only this group (needs `by`), e.g. by=team&group=Team Costa"),
        ),
        CleanedGroup,
    ] = None,
    as_of: Annotated[
        datetime | None,
        Query(
            description=(
                "Forecast as known at this date (default: the period start if it is over, else "
                "now: today, or the day after the data ends)"
            )
        ),
    ] = None,
    new_deals: Annotated[bool, Query(description="Include deals not yet created")] = True,
) -> ForecastResponse:
    stored = await run_in_threadpool(
        stored_forecast,
        engine,
        period,
        dataset=dataset or settings.deal_dataset,
        by=by,
        group=group,
        as_of=as_of,
        include_new_deals=new_deals,
        settings=settings,
    )
    if stored is not None:  # tracked, and nothing it depends on changed since
        return ForecastResponse.model_validate(stored)
    workers = request.app.state.forecast_workers
    params = {
        "period": period,
        "by": by,
        "group": group,
        "as_of": as_of,
        "include_new_deals": new_deals,
        "dataset": dataset or settings.deal_dataset,
    }

    def compute() -> ForecastResponse:
        data = load_dataset(engine, dataset or settings.deal_dataset, datasets)
        result = forecast_against_targets(
            engine,
            period,
            dataset=data.name,
            by=by,
            group=group,
            as_of=as_of,
            include_new_deals=new_deals,
            settings=settings,
            history=data.history,
            models_cache=forecast_models,
        )
        return ForecastResponse.model_validate(result.to_dict())

    try:
        if workers is not None:  # in a child process: stopped for real, the GIL left to scoring
            return ForecastResponse.model_validate(await workers.forecast(request, params))
        return await heavy(compute)
    except (Busy, ModelNotReady) as exc:  # a 503 while the server warms up says so
        raise said_while_warming(request.app.state, exc) from None


@router.get(
    "/forecast/history",
    responses=ERRORS,
    summary="A period's forecast over time: as it stood on each tracked date, with its band, "
    "won to date and the target (tracked by `forecast track` and the server's schedule)",
)
async def get_forecast_history(
    engine: EngineDep,
    settings: SettingsDep,
    request: Request,
    dataset: ViewerDataset,
    period: Annotated[
        str, Query(min_length=1, max_length=20, examples=["2017-Q3"], description="The period")
    ],
    by: Annotated[
        Literal["team", "rep", "owner"] | None,
        Query(description="A team's or rep's line (with group; owner is the rep)"),
    ] = None,
    group: Annotated[str | None, Query(min_length=1, max_length=200), CleanedGroup] = None,
) -> dict[str, Any]:
    if (by is None) != (group is None):
        raise InvalidInput("by and group: give both (a team's or rep's line) or neither")
    by_name = canonical_group(by)  # owner is the rep, said as such
    level = by_name or "total"

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            name = store.resolve_dataset(conn, dataset or settings.deal_dataset, "opportunities")
        found = forecast_runs.period_history(engine, name, period, level=level, group=group)
        del found["level"]  # the API says `by`
        return {"dataset": name, "by": by_name, **found, "tracking": _tracking(request)}

    return await run_in_threadpool(read)


def _tracking(request: Request) -> dict[str, Any]:
    state = request.app.state.tracking
    if state is None:
        return {"scheduled": False, "note": "run `forecast track` (cron) to keep the history"}
    return {
        "scheduled": True,
        "every_hours": state.every_hours,
        "runs": state.runs,
        "last_started": state.last_started.isoformat() if state.last_started else None,
        "last_ok": state.last_ok,
        "last_message": state.last_message,
        "last_retrain": state.last_retrain or None,
    }
