"""The backtest's replay: every (window, horizon) forecast, fitted at each origin, in process
or as Dask tasks.

Origins are walked in time order and grouped by refit: a group starts where the models are
fitted (every `refit_weeks` weeks) and holds the origins that reuse that fit with their own
pipeline, stage win rates and new-deal pace (`fitted.refreshed`). Groups are independent but for
one thing: a forecast's range reads the probes of earlier origins (`drift`: what the models fitted
then forecast for the next days, once those days have ended). So each group is two parts, one
path wherever they run:

- `_fit_group`: fit, and at each of its origins the pipeline, what was won before and the probes;
- `_forecast_group`: its origins' forecasts, given the probes of every earlier group.

In process (`runner(None)`) the parts run at once, group after group, one group's pipelines in
memory at a time, as the replay always did. With a Dask client the history is scattered to each
worker once and the parts are tasks: groups are fitted in parallel and each group's forecasts
run where its fit lies, as soon as the earlier groups' probes are known. A forecast reads only
probes that had ended by its origin (`drift.drift_from_probes`), made by earlier origins, so the
results are the same whichever way they ran.

A fit that fails for too little history leaves its origins skipped with the reason; the next
origin of the group fits again (as every origin would, until one succeeds).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecast import timing as tm
from forecast.data.stages import LOST, WON
from forecast.errors import InsufficientHistory
from forecast.forecasting import naive
from forecast.forecasting.backtest_report import PeriodResult
from forecast.forecasting.drift import Probe, cached_drift, drift_from_probes, probe_spans
from forecast.forecasting.fitted import (
    ForecastModels,
    fit_forecast_models,
    recent_change,
    refreshed,
)
from forecast.forecasting.rep_calls import rep_calls
from forecast.forecasting.revenue import GROUP_COLUMNS, MISSING_GROUP, forecast_pipeline
from forecast.formatting import rounded
from forecast.history import DealHistory
from forecast.periods import Period
from forecast.runner import SHARED_STATE, Reader, runner
from forecast.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

WEEK = pd.Timedelta(days=7)
Progress = Callable[[str], None]
#: (index in the results, window, horizon in weeks) of each forecast made at one origin.
Jobs = dict[pd.Timestamp, list[tuple[int, Period, int]]]


@dataclass
class _Origin:
    """What every forecast made at one origin shares: the models fitted then, the pipeline,
    what was won before it."""

    models: ForecastModels
    pipeline: pd.DataFrame
    shown: pd.DataFrame
    won: pd.DataFrame  # won before the origin, as known then (`naive.won_before`)


def replay(
    history: DealHistory,
    windows: list[Period],
    freq: str,
    horizons: tuple[int, ...],
    cutoff: pd.Timestamp,
    by: str | None,
    settings: Settings,
    progress: Progress | None,
    refit_weeks: int = 1,
    client: Client | None = None,
    whole: Reader | None = None,
) -> tuple[list[PeriodResult], int]:
    """Every (window, horizon) forecast, walking the distinct origins in time order and fitting
    at most once at each: every `refit_weeks` weeks, as a product that retrains on a schedule
    (between two fits, the latest models with the pipeline, stage win rates and new-deal pace
    as of each origin). In process, or on `client`'s Dask cluster (the same results). With
    `whole`, what reads the dataset whole on each worker (`parquet_export.WholeHistory`),
    `history` is its summary (status and dates of the deals): the fits, the forecasts and what
    was won read the whole one there. Returns the results (by window, then horizon) and the
    number of fits."""
    column = GROUP_COLUMNS.get(by) if by else None
    deals = history.final_deals  # a close as the snapshots read it
    closes = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].dropna()
    first_close = closes.min() if len(closes) else None
    last_day = (cutoff - pd.Timedelta(days=1)).date()
    jobs: Jobs = {}
    results: list[PeriodResult | None] = []
    for per in windows:
        for h in horizons:
            index = len(results)
            origin = per.start - h * WEEK
            if per.end > cutoff:
                results.append(
                    PeriodResult(
                        per,
                        "skipped",
                        reason=f"ends after the export date ({last_day}): "
                        "only partly observed, not scored",
                        horizon_weeks=h,
                        origin=origin,
                    )
                )
                continue
            results.append(None)
            jobs.setdefault(origin, []).append((index, per, h))
    length = naive.LENGTHS[freq]
    ready = []
    for origin in sorted(jobs):
        if first_close is None or first_close + length > origin:
            reason = (
                f"less than a {freq} of outcomes before {origin.date()} (the first deal closed "
                f"{first_close.date() if first_close is not None else 'never'}): forecasts are "
                f"scored once a full {freq} of history is known, as the run rate and the models "
                "need it"
            )
            for index, per, h in jobs[origin]:
                results[index] = PeriodResult(
                    per, "skipped", reason=reason, horizon_weeks=h, origin=origin
                )
        else:
            ready.append(origin)
    run = runner(client)
    if whole is not None:
        shared = run.share_read(whole)
        won = run.submit(won_deals, shared)
    else:
        shared, won = run.share(history), run.share(won_deals(history))
    before: Any = []  # the probes of the groups so far (on a cluster, a future of them)
    handles = []
    groups = refit_groups(ready, refit_weeks)
    for i, group in enumerate(groups, 1):
        if progress:
            n = sum(len(jobs[o]) for o in group)
            progress(
                f"fit {i} of {len(groups)}: as of {group[0].date()} ({n} forecasts, {run.where})"
            )
        made = run.submit(_fit_group, shared, group, refit_weeks, column, won, freq, settings)
        mine = {o: jobs[o] for o in group}
        handles.append(
            run.submit(_forecast_group, shared, made, mine, before, won, column, by, settings)
        )
        before = run.submit(_with_probes, before, made)
    fitted = 0
    for done in run.results(handles):
        fitted += done.fits
        for index, result in done.results:
            results[index] = result
    return [r for r in results if r is not None], fitted


def won_deals(history: DealHistory) -> pd.DataFrame:
    """Every deal won with a close date, its close as the stage history gives it (as the
    snapshots and KPIs read it): what each window's actual is read from."""
    deals = history.final_deals
    return deals[(deals["status"] == WON) & deals["closed_at"].notna()]


def refit_groups(origins: list[pd.Timestamp], refit_weeks: int) -> list[list[pd.Timestamp]]:
    """Sorted origins cut where the models are refitted: a group starts `refit_weeks` weeks or
    more after the start of the one before."""
    groups: list[list[pd.Timestamp]] = []
    for origin in origins:
        if not groups or origin - groups[-1][0] >= refit_weeks * WEEK:
            groups.append([origin])
        else:
            groups[-1].append(origin)
    return groups


@dataclass
class _Fitted:
    """A group's origins as fitted: each origin's shared state (or why there is none), the
    probes they made in origin order, and how many fits it took."""

    states: dict[pd.Timestamp, _Origin | str]
    probes: list[Probe]
    fits: int

    def __sizeof__(self) -> int:
        """Roughly the frames held, so a Dask scheduler keeps the forecasts where they lie."""
        frames = [
            f
            for s in self.states.values()
            if not isinstance(s, str)
            for f in (s.pipeline, s.shown, s.won)
        ]
        held = sum(int(f.memory_usage(index=True, deep=False).sum()) for f in frames)
        return held + 1_000_000 * len(self.states) + sys.getsizeof(self.probes)


@dataclass
class _Forecasts:
    """A group's forecasts: (index in the results, result) pairs, and the fits they took."""

    results: list[tuple[int, PeriodResult]] = field(default_factory=list)
    fits: int = 0


def _fit_group(
    history: DealHistory,
    group: list[pd.Timestamp],
    refit_weeks: int,
    column: str | None,
    won_all: pd.DataFrame,
    freq: str,
    settings: Settings,
) -> _Fitted:
    """Fit at the group's first origin (again at the next if a fit fails), then what each of
    its origins shares and probes."""
    states: dict[pd.Timestamp, _Origin | str] = {}
    probes: list[Probe] = []
    fits = 0
    last: ForecastModels | None = None
    with SHARED_STATE:
        for origin in group:
            try:
                if last is None or origin - last.as_of >= refit_weeks * WEEK:
                    last = fit_forecast_models(history, origin, settings=settings)
                    fits += 1
                models = (
                    last if last.as_of == origin else refreshed(last, history, origin, settings)
                )
                states[origin] = _origin(history, models, origin, column, won_all, freq, probes)
            except InsufficientHistory as exc:
                states[origin] = str(exc)
    return _Fitted(states, probes, fits)


def _forecast_group(
    history: DealHistory,
    fitted: _Fitted,
    jobs: Jobs,
    before: list[Probe],
    won_all: pd.DataFrame,
    column: str | None,
    by: str | None,
    settings: Settings,
) -> _Forecasts:
    """Every forecast of the group's origins, with the probes of earlier groups and its own."""
    probes = [*before, *fitted.probes]
    out = _Forecasts(fits=fitted.fits)
    with SHARED_STATE:
        for origin in sorted(jobs):
            state = fitted.states[origin]
            for index, per, h in jobs[origin]:
                if isinstance(state, str):
                    result = PeriodResult(
                        per, "skipped", reason=state, horizon_weeks=h, origin=origin
                    )
                else:
                    result = _one_forecast(
                        history, state, per, h, origin, won_all, column, by, settings, probes
                    )
                out.results.append((index, result))
    return out


def _with_probes(before: list[Probe], fitted: _Fitted) -> list[Probe]:
    return [*before, *fitted.probes]


def _origin(
    history: DealHistory,
    models: ForecastModels,
    origin: pd.Timestamp,
    column: str | None,
    won_all: pd.DataFrame,
    freq: str,
    probes: list[Probe],
) -> _Origin:
    """What every forecast at the origin shares (models fitted by then, the pipeline and what
    was won as of it); and the origin's probes: what these models forecast for the next full
    period and its halves, beside what was won then (read by later origins only, once ended)."""
    pipeline = tm.pipeline_rows(history, origin)
    shown = history.as_of(origin)
    won = naive.won_before(history.known_before(origin), column)
    full = (origin + naive.LENGTHS[freq] - origin) / tm.DAY
    for level, span in enumerate(probe_spans(full)):
        window = Period(f"{origin.date()} +{span:g} days", origin, origin + span * tm.DAY, freq)
        fc = forecast_pipeline(pipeline, models, window, origin)
        won_then = won_all.loc[window.contains(won_all["closed_at"]), "amount"]
        probes.append(Probe.of(origin, level, span, fc.deals, fc.new_streams, won_then))
    return _Origin(models, pipeline, shown, won)


def _one_forecast(
    history: DealHistory,
    state: _Origin,
    per: Period,
    h: int,
    origin: pd.Timestamp,
    won_all: pd.DataFrame,
    column: str | None,
    by: str | None,
    settings: Settings,
    probes: list[Probe],
) -> PeriodResult:
    models, pipeline, shown = state.models, state.pipeline, state.shown
    known_groups = (
        set(shown[column].astype(object).where(shown[column].notna(), MISSING_GROUP).astype(str))
        if column and column in shown
        else None
    )
    span = (per.end - max(per.start, origin)) / tm.DAY
    # Out of sample where earlier origins' probes have ended, else in sample (the first weeks).
    drift = drift_from_probes(probes, origin, span) or cached_drift(history, models, span, settings)
    fc = forecast_pipeline(
        pipeline, models, per, origin, by=by, known_groups=known_groups, drift=drift
    )
    forecasts = {"model": fc.total.expected}
    if fc.total.weighted_pipeline is not None:
        forecasts["weighted_pipeline"] = fc.total.weighted_pipeline
    km = None
    if models.baseline is not None and models.timing is not models.baseline:
        km = forecast_pipeline(
            pipeline,
            replace(models, timing=models.baseline),
            per,
            origin,
            by=by,
            known_groups=known_groups,
            drift=drift,
        )
        forecasts["stage_km"] = km.total.expected
    naives = naive.forecasts(state.won, origin, per, settings.new_deal_window_days)
    for name, values in naives.items():
        if values is not None:
            forecasts[name] = float(values.sum())

    change = recent_change(models.timing, settings)  # the run rate's level left, if so
    # What happened: every deal won with a close date inside the window (full data).
    won = won_all[per.contains(won_all["closed_at"])]
    open_ids = set(pipeline["id"])
    from_pipeline = won["id"].isin(open_ids)
    result = PeriodResult(
        per,
        "ok",
        actual=float(won["amount"].fillna(0).sum()),
        actual_pipeline=float(won.loc[from_pipeline, "amount"].fillna(0).sum()),
        actual_new=float(
            won.loc[~from_pipeline & (won["created_at"] >= origin), "amount"].fillna(0).sum()
        ),
        open_deals=len(pipeline),
        forecasts=forecasts,
        p10=fc.total.p10,
        p50=fc.total.p50,
        p90=fc.total.p90,
        expected_new=fc.total.expected_new,
        method=fc.method,
        drift=drift.sigma,
        drift_windows=drift.windows,
        horizon_weeks=h,
        origin=origin,
        no_hedge=naive.still_filling(state.won, origin, settings.new_deal_window_days)
        or (change.against_run_rate(forecasts) if change else None),
    )
    if column:
        labels = won[column].astype(object).where(won[column].notna(), MISSING_GROUP).astype(str)
        actual_by = won["amount"].fillna(0).groupby(labels.to_numpy()).sum()
        km_by = {g.group: g.expected for g in km.groups} if km else {}
        for g in fc.groups:
            line = {
                "group": g.group,
                "actual": rounded(actual_by.get(g.group, 0.0), 2),
                "expected": rounded(g.expected, 2),
                "p10": rounded(g.p10, 2),
                "p50": rounded(g.p50, 2),
                "p90": rounded(g.p90, 2),
                "weighted_pipeline": rounded(g.weighted_pipeline, 2),
                "stage_km": rounded(km_by.get(g.group), 2),
                "deals": g.deals,
            }
            for name, values in naives.items():
                line[name] = None if values is None else rounded(values.get(g.group, 0.0), 2)
            result.groups.append(line)
    if h == 0:
        seen = pd.Series(
            history.first_observed() < origin.to_datetime64(), index=history.deals["id"]
        )
        result.reps = rep_calls(shown, pipeline, fc.deals, won, per, seen)
    return result
