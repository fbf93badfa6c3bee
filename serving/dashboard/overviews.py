"""The overview of one dashboard view, computed once per dataset version, filters and models.

The forecast fits models and replays past windows: seconds of work that a manager reloading the
page or downloading a CSV should not pay again. `create_app` makes one `OverviewCache` (a
cachetools `TTLCache`) and keeps it on `app.state.overviews`; routes receive it through
`OverviewCacheDep`. An entry lives `CACHE_SECONDS`; its key holds the store, the dataset's
version, the view and the served model set, so an import or sync (a new dataset version) or a
model reload (a new model set) misses it. While one request builds an overview, others asking
for the same one wait for it rather than build it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Annotated, Any

from cachetools import TTLCache, cached
from fastapi import Depends, Request

from forecast import overview
from forecast.errors import ForecastError
from serving.routes.risk import served_deal_model

CACHE_SECONDS = 120.0
CACHE_ENTRIES = 32


class OverviewCache:
    """Recently computed overviews; one computation per key at a time (others wait for it)."""

    def __init__(self, seconds: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES) -> None:
        self.entries: TTLCache[Hashable, Any] = TTLCache(maxsize=entries, ttl=seconds)
        # cachetools' own stampede guard: the condition serialises access to the (not
        # thread-safe) TTLCache and makes a second caller of a key wait for the first one.
        self._get = cached(self.entries, key=lambda key, build: key,
                           condition=threading.Condition())(lambda key, build: build())

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value kept for `key`, else `build()` (kept, unless it raised)."""
        return self._get(key, build)

    def clear(self) -> None:
        self._get.cache_clear()


def get_overview_cache(request: Request) -> OverviewCache:
    return request.app.state.overviews


OverviewCacheDep = Annotated[OverviewCache, Depends(get_overview_cache)]


def compute(request: Request, cache: OverviewCache, dataset: str | None, freq: str,
            period: str | None, team: str | None) -> tuple[overview.Overview | None, str | None]:
    """The overview of a view (cached), or None and the reason the data cannot be shown."""
    state = request.app.state
    engine = state.engine
    try:
        data = overview.load_dataset(engine, dataset or state.settings.deal_dataset)
        view = overview.choose_view(data, freq=freq, period=period, team=team)
    except ForecastError as exc:
        return None, str(exc)
    models = state.models
    served = served_deal_model(request, data.name)
    # The model set by identity and load time: a reload is a new set, even if the id of a
    # discarded one were reused.
    key = (str(engine.url), data.name, data.version, view.freq, view.period.label,
           str(view.as_of), view.team, id(models), models.loaded_at)
    result = cache.get(key, lambda: overview.build_overview(
        engine, data, view, served=served, settings=state.settings))
    return result, None
