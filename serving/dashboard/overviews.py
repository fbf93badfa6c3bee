"""The overview of one dashboard view, computed once per dataset version, filters and models.

The forecast fits models and replays past windows: seconds of work that a manager reloading the
page or downloading a CSV should not pay again. `create_app` makes one `OverviewCache` (a
cachetools `TTLCache`) and keeps it on `app.state.overviews`; routes receive it through
`OverviewCacheDep`. An entry lives `CACHE_SECONDS`; its key holds the store, the dataset's
version, the view, the deal model the view reads (`model_key`), when the track record was saved
and the dataset's targets, so an import or sync (a new dataset version), another deal model
served for the dataset, a backtest (a new track record, which the headline and past accuracy
read) or a target set by the API or `forecast targets` (even from another process) misses it,
while a reload that kept the dataset's model (one for another dataset's push) does not. While
one request builds an overview, others asking for the same one wait for it rather than build it
again.

An overview shows a failed section as a message rather than failing whole, so one whose
forecast stopped at a checkpoint (`forecast.budget`: the time budget spent, or the client gone)
would look complete: `compute` checks the budget once more after building and raises instead,
so such an overview is never cached.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State

from forecast import budget
from forecast.data.store import PICK_ON_PAGE
from forecast.errors import ForecastError
from forecast.forecasting import targets, track_record
from forecast.scoring import Served
from serving.caches import BuildOnceCache
from serving.dashboard import page as overview
from serving.dashboard.page import Overview
from serving.datasets import load_dataset
from serving.routes.risk import served_deal_model

CACHE_SECONDS = 3600.0
CACHE_ENTRIES = 32


class OverviewCache(BuildOnceCache):
    """Recently computed overviews; one computation per key at a time (others wait for it)."""

    def __init__(self, seconds: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES) -> None:
        super().__init__(entries, seconds)


def get_overview_cache(request: Request) -> OverviewCache:
    return request.app.state.overviews


OverviewCacheDep = Annotated[OverviewCache, Depends(get_overview_cache)]


def compute(
    state: State,
    cache: OverviewCache,
    dataset: str | None,
    freq: str,
    period: str | None,
    team: str | None,
) -> tuple[overview.Overview | None, ForecastError | None]:
    """The overview of a view (cached), or None and the error saying why the data cannot be
    shown (its type gives the page's status). `state` is the app's (`request.app.state`)."""
    engine = state.engine
    try:
        data = load_dataset(
            engine, dataset or state.settings.deal_dataset, state.datasets, PICK_ON_PAGE
        )
        view = overview.choose_view(data, freq=freq, period=period, team=team)
    except ForecastError as exc:
        return None, exc
    served = served_deal_model(state.models, data.name)
    key = (
        str(engine.url),
        data.name,
        data.version,
        view.freq,
        view.period.label,
        str(view.as_of),
        view.team,
        model_key(served),
        track_record.saved_at(engine, data.name, view.freq),
        targets.stamp(engine, data.name),  # the chart, tiles and table show every period's
    )

    def build() -> Overview:
        built = overview.build_overview(
            engine,
            data,
            view,
            served=served,
            settings=state.settings,
            models_cache=state.forecast_models,
        )
        budget.check()  # a section stopped by the budget must not be kept as the overview
        return built

    return cache.get(key, build), None


def model_key(served: Served | None) -> tuple[str, str | None, str, int] | None:
    """The deal model a view reads, in its cache key: which one, and that very object (a model
    loaded again is a new `serial`; one a reload kept is the same). Nothing else of the served
    set: a reload for another dataset keeps this one's views."""
    if served is None:
        return None
    return (served.name, served.version, served.source, served.serial)
