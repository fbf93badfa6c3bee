"""The stored opportunities datasets as the app serves them: each read once per version.

An import or a CRM sync that changes what is stored gives a dataset a new version (its
`updated_at`; one that changes nothing keeps it, and the cache), so a cached `DealHistory` is
never stale: the key holds the version, and the old version's entry simply ages out of the
app's cache. The KPI and at-risk routes, the forecast and the dashboard all
read through here, so one request's history is the next one's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from forecast.data import store
from forecast.date_reach import check_after_first_deal, check_reach
from forecast.errors import InvalidInput
from forecast.groups import canonical_group
from forecast.history import DealHistory, as_timestamp, load_deal_history
from forecast.periods import Period
from forecast.settings import Settings
from forecast.waterfall import PipelineWaterfall, pipeline_waterfall
from serving.caches import BuildOnceCache

DATASETS_KEPT = 4
#: Pipeline waterfalls, their page contexts and default periods kept for repeat views.
WATERFALLS_KEPT = 16


@dataclass
class Dataset:
    """A stored opportunities dataset (its `DealHistory`), with what the pages need of it."""

    name: str
    version: str
    history: DealHistory
    now: pd.Timestamp  # `DealHistory.now`: today, or the day after the data ends
    teams: list[str]
    rep_team: dict[str, str]  # each rep's team (the one most of their deals carry)

    @property
    def opportunities(self) -> pd.DataFrame:
        return self.history.deals


def dataset_version(
    engine: Engine, name: str | None, how: str = store.BY_DATASET_OPTION
) -> tuple[str, str]:
    """(name, version): the dataset named, or the store's only one, and when it last changed.
    `how`: the words saying how the user names one where there are several
    (`store.resolve_dataset`: the API's and the command line's, or a page's)."""
    with engine.connect() as conn:
        resolved = store.resolve_dataset(conn, name, "opportunities", how=how)
        row = store.get_dataset(conn, resolved)
    if row["kind"] != "opportunities":
        raise InvalidInput(f"dataset {resolved!r} holds {row['kind']}, not opportunities")
    return resolved, str(row["updated_at"])


def load_dataset(
    engine: Engine, name: str | None, cache: BuildOnceCache, how: str = store.BY_DATASET_OPTION
) -> Dataset:
    """The dataset named (or the store's only one), from `cache` when this version is there."""
    resolved, version = dataset_version(engine, name, how)
    return cache.get((str(engine.url), resolved, version), lambda: _read(engine, resolved, version))


def _read(engine: Engine, name: str, version: str) -> Dataset:
    history = load_deal_history(engine, name)
    opps = history.deals
    teams = sorted(str(t) for t in opps["team"].dropna().unique()) if "team" in opps else []
    rep_team: dict[str, str] = {}
    if {"owner", "team"} <= set(opps.columns):
        pairs = opps[["owner", "team"]].dropna()
        if len(pairs):
            top = pairs.groupby(["owner", "team"]).size().reset_index(name="n")
            top = top.sort_values("n", kind="stable").drop_duplicates("owner", keep="last")
            rep_team = {str(o): str(t) for o, t in zip(top["owner"], top["team"], strict=True)}
    return Dataset(name, version, history, history.now(), teams, rep_team)


def cached_waterfall(
    cache: BuildOnceCache,
    data: Dataset,
    start: object,
    end: object,
    period: Period | None,
    by: str | None,
    settings: Settings | None = None,
) -> PipelineWaterfall:
    """The pipeline waterfall of `data` (`forecast.waterfall`), computed once per dataset version,
    dates, period and grouping: the API and the dashboard page share it, and a repeat view, a
    group's view or a CSV costs no pass over the deals. A new import or CRM push changes the
    version, and so the key.

    Dates are checked as the API's other dates are, when first built: `from` and `to` within the
    forecasts' reach of the data's end, `to` after its first deal (a waterfall between two dates
    before any deal is blank); `from` may come before it (every deal is then created in it)."""
    t0, t1 = as_timestamp(start), as_timestamp(end)
    by = canonical_group(by)  # `owner` is the rep: one cached waterfall for both names
    key = (data.name, data.version, t0, t1, period.label if period else None, by)

    def build() -> PipelineWaterfall:
        check_reach(data.history, {"to": t1, "from": t0}, settings)
        check_after_first_deal(data.history, "to", t1)
        return pipeline_waterfall(data.history, t0, t1, period=period, by=by)

    return cache.get(key, build)
