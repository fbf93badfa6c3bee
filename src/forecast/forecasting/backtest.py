"""Backtest: replay history and score each forecast against what was won, beside naive ones.

**Windows and origins.** With `every="period"` the target windows are the calendar periods of
`freq`; with `every="week"` they are rolling windows of the period's length (a quarter from
15 May ends 15 August) starting every Monday, so a year of data gives dozens of forecasts instead
of four. Each window is forecast at every horizon h (weeks): as of the origin = window start − h
weeks, with models fitted only on what was known before the origin (`DealHistory.known_before`:
no stage entry, close or amount recorded at or after it). Windows sharing an origin share one
fit: the replay walks the distinct origins in order and fits once at each.

**When forecasts start.** A forecast is scored once a full period of outcomes is known before its
origin (the first close + one period): with less, the run rate and the models have nothing to
learn from, and their errors would say nothing about the product in use.

**Ranges out of sample.** Each fitted origin also forecasts the next period and its halves
(`drift.Probe`); a later forecast widens its range by how far those forecasts missed, reading
only probes that had ended by its own origin (`drift.drift_from_probes`). The first origins,
before any probe has ended, measure the drift in sample.

**What is scored.** Our forecast (expected, P10/P50/P90), the weighted pipeline and the
per-stage close-time baseline (`stage_km`) on the same pipeline, and the naive forecasts of
`forecasting.naive` (run rate, last period, same period last year), against the revenue won with a
close date inside the window (from deals open at the origin and deals created later). Per
horizon: WAPE, bias, pinball loss at P10/P50/P90 (a point forecast has its P50 only: half the
absolute error), P10–P90 coverage with its count and 95% Wilson interval, and the share of
forecasts where ours beat the best naive one at that origin (best = lowest absolute error among
run rate, last period, same period last year and the weighted pipeline). `forecast_table()` gives
one row per origin, horizon and method: what choosing a method on past error needs.

**The choosing, backtested.** Each forecast also gets the pseudo-method `chosen`: the method (or
blend) with the lowest WAPE over the table's rows of windows that had ended by its origin, at its
horizon, with the range those rows' errors give (`forecasting.choice`); ours until enough of them
have ended. Its WAPE, bias, pinball loss and P10–P90 coverage are those of what users would have
seen. Ours is also scored with its empirical range (its own past errors, the same earlier rows)
beside the range of its model.

**Bounded by what the data saw.** The export date is the newest `updated_at` (or given). A window
that ends after it is only partly observed and is not scored. The last `sealed` complete periods
(calendar periods of `freq`) are a sealed check: forecasts whose window reaches into them are
scored apart and never mixed into the headline figures.
Reps' own calls are scored beside ours at horizon 0 (`rep_calls`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from forecast import timing as tm
from forecast.data.stages import LOST, WON
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.forecasting import choice, naive
from forecast.forecasting.backtest_report import BacktestReport, PeriodResult
from forecast.forecasting.drift import Probe, cached_drift, drift_from_probes, probe_spans
from forecast.forecasting.fitted import ForecastModels, fit_forecast_models, refreshed
from forecast.forecasting.rep_calls import has_calls, hindsight_note, rep_calls
from forecast.forecasting.revenue import GROUP_COLUMNS, MISSING_GROUP, forecast_pipeline
from forecast.formatting import rounded
from forecast.history import DealHistory, as_timestamp
from forecast.periods import FREQS, Period, parse_period, period_of, periods_between
from forecast.settings import Settings, get_settings

EVERY = ("period", "week")
#: Horizons (weeks before the window starts) when none are given.
DEFAULT_HORIZONS = {"period": (0,), "week": (0, 4, 8, 13)}
MAX_HORIZON_WEEKS = 104
#: Sealed periods when not given: none for calendar periods (today's figures), two for weekly.
DEFAULT_SEALED = {"period": 0, "week": 2}
WEEK = pd.Timedelta(days=7)
Progress = Callable[[str], None]


# --- the replay -----------------------------------------------------------------------------------


def export_date_of(history: DealHistory) -> pd.Timestamp:
    """When the data was exported: the newest `updated_at` (the newest record otherwise).
    Expected close dates say nothing about it."""
    deals = history.deals
    if "updated_at" in deals and deals["updated_at"].notna().any():
        return as_timestamp(deals["updated_at"].max())
    return history.end


def backtest(
    history: DealHistory,
    *,
    freq: str = "quarter",
    start: object = None,
    end: object = None,
    by: str | None = None,
    settings: Settings | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
    horizons: Sequence[int] | None = None,
    every: str = "period",
    export_date: object = None,
    sealed: int | None = None,
    refit_weeks: int = 1,
) -> BacktestReport:
    """Forecast past windows of `freq` at each horizon, with models fitted on what was known at
    each origin, and score them against the revenue won inside each window.

    `every="period"`: the calendar periods; `every="week"`: rolling windows of the period's
    length starting every Monday. `horizons`: weeks between origin and window start (default:
    0 for periods, 0, 4, 8, 13 for weekly windows). `start` / `end` (dates or periods like
    2017-01) bound the windows. Windows ending after the export date (`export_date`, default
    the newest `updated_at`) are not scored; the last `sealed` complete periods (default: 2
    weekly, 0 for periods) are scored apart as the sealed check. `refit_weeks`: the models are
    refitted once the last fit is that many weeks old (1: at every origin); in between, the
    last fit forecasts with the pipeline, stage win rates and new-deal pace of each origin.
    """
    started = time.perf_counter()
    if freq not in FREQS:
        raise InvalidInput(f"--freq must be one of {', '.join(FREQS)}, got {freq!r}")
    if every not in EVERY:
        raise InvalidInput(f"--every must be one of {', '.join(EVERY)}, got {every!r}")
    if by is not None and by not in GROUP_COLUMNS:
        raise InvalidInput(f"cannot group by {by!r}: use one of {', '.join(GROUP_COLUMNS)}")
    steps = _horizons(horizons if horizons is not None else DEFAULT_HORIZONS[every])
    if not 1 <= int(refit_weeks) <= MAX_HORIZON_WEEKS:
        raise InvalidInput(
            f"--refit-weeks must be between 1 and {MAX_HORIZON_WEEKS} weeks, got {refit_weeks}"
        )
    n_sealed = DEFAULT_SEALED[every] if sealed is None else int(sealed)
    if n_sealed < 0:
        raise InvalidInput(f"--sealed must be 0 or more periods, got {sealed}")
    if history.deals.empty:
        raise InvalidInput("no deals in the data: nothing to backtest")
    settings = settings or get_settings()
    exported = _date(export_date, "--export-date") if export_date is not None else None
    exported = exported if exported is not None else export_date_of(history)
    # The data covers the export day in full (closes dated on it too).
    cutoff = exported.normalize() + pd.Timedelta(days=1)
    lo = _date(start, "--from") if start is not None else None
    hi = _range_end(end, "--to") if end is not None else None
    if every == "period":
        windows = _periods(history, freq, lo, hi, exported)
    else:
        windows = _weeks(history, freq, lo, hi, cutoff)
    sealed_from = _sealed_from(cutoff, freq, n_sealed) if n_sealed else None
    notes = list(history.leak_notes)
    results, fitted = _replay(
        history, windows, freq, steps, cutoff, by, settings, progress, int(refit_weeks)
    )
    for r in results:
        r.sealed = sealed_from is not None and r.period.end > sealed_from
    at_zero = [r for r in results if r.status == "ok" and r.horizon_weeks == 0]
    if at_zero and not any(r.reps for r in at_zero) and has_calls(history.deals):
        notes.append(hindsight_note())
    _choose_all(results)
    if sealed_from is not None:
        notes.append(
            f"sealed check: forecasts of windows ending after {sealed_from.date()} (the last "
            f"{n_sealed} complete {freq}s before the export date {exported.date()}) are "
            "scored apart, not in the headline figures"
        )
    return BacktestReport(
        freq,
        by,
        results,
        time.perf_counter() - started,
        dataset,
        notes=notes,
        every=every,
        horizons=steps,
        export_date=exported,
        sealed_from=sealed_from,
        origins_fitted=fitted,
    )


def _choose_all(results: list[PeriodResult]) -> None:
    """Give each scored forecast what users would have been shown then, from the forecasts of
    windows that had ended by its origin (`choice` reads no other row): first ours recalibrated
    on its past errors (`choice.RECALIBRATED`, with ours' empirical range), then the `chosen`
    pseudo-method among all of them."""
    scored = [(p, p.origin) for p in results if p.status == "ok" and p.origin is not None]
    table = BacktestReport("", None, results).forecast_table()
    for p, origin in scored:
        again = choice.recalibrated(table, origin, p.horizon_weeks, p.forecasts["model"])
        if again is not None:
            p.forecasts[choice.RECALIBRATED] = again[0]
            p.model_empirical = choice.scaled(p.forecasts["model"], again[1])
    table = BacktestReport("", None, results).forecast_table()
    for p, origin in scored:
        c = choice.choose(table, origin, p.horizon_weeks, available=p.forecasts)
        shown = choice.apply_choice(c, p.forecasts, (p.p10, p.p50, p.p90))
        p.chosen = {
            "method": shown.method,
            "label": shown.label,
            "forecast": shown.forecast,
            "p10": shown.p10,
            "p50": shown.p50,
            "p90": shown.p90,
            "range": shown.range,
            "horizon_weeks_used": c.horizon_weeks_used,
            "past_forecasts": c.n,
            "past_wape": c.wape,
            "reason": c.reason,
        }
        p.forecasts[choice.CHOSEN] = shown.forecast


def _horizons(values: Iterable[object]) -> tuple[int, ...]:
    out = []
    for v in values:
        try:
            h = int(str(v).strip())
        except ValueError:
            raise InvalidInput(
                f"--horizons: {v!r} is not a whole number of weeks (use e.g. 0,4,8,13)"
            ) from None
        if not 0 <= h <= MAX_HORIZON_WEEKS:
            raise InvalidInput(f"--horizons: {h} is not between 0 and {MAX_HORIZON_WEEKS} weeks")
        out.append(h)
    if not out:
        raise InvalidInput("--horizons: give at least one horizon in weeks (e.g. 0,4,8,13)")
    return tuple(sorted(set(out)))


def _periods(
    history: DealHistory,
    freq: str,
    lo: pd.Timestamp | None,
    hi: pd.Timestamp | None,
    exported: pd.Timestamp,
) -> list[Period]:
    first = as_timestamp(history.deals["created_at"].min())
    last = hi - pd.Timedelta(days=1) if hi is not None else exported
    periods = periods_between(lo if lo is not None else first, last, freq)
    cutoff = exported.normalize() + pd.Timedelta(days=1)
    if not any(p.end <= cutoff for p in periods):
        raise InvalidInput(
            f"no complete {freq} in the range: the data was exported {exported.date()}"
        )
    return periods


def _weeks(
    history: DealHistory,
    freq: str,
    lo: pd.Timestamp | None,
    hi: pd.Timestamp | None,
    cutoff: pd.Timestamp,
) -> list[Period]:
    """Windows of the period's length starting every Monday: from the first Monday a full
    period after the first close (less history teaches the models and the run rate nothing) or
    `lo`, to the last one ending by the export date (or `hi`)."""
    deals = history.deals
    closes = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].dropna()
    if lo is None:
        if closes.empty:
            raise InvalidInput("no deal has closed in the data: nothing to backtest")
        lo = as_timestamp(closes.min()) + naive.LENGTHS[freq]
    stop = min(cutoff, hi) if hi is not None else cutoff
    first = lo.normalize() + pd.Timedelta(days=(7 - lo.weekday()) % 7)
    length = naive.LENGTHS[freq]
    windows = []
    s = first
    while s + length <= stop:
        windows.append(Period(f"{s.date()} +1 {freq}", s, s + length, freq))
        s += WEEK
    if not windows:
        raise InvalidInput(
            f"no {freq}-long window from {first.date()} ends by "
            f"{(stop - pd.Timedelta(days=1)).date()} (the export date or --to): nothing to backtest"
        )
    return windows


def _sealed_from(cutoff: pd.Timestamp, freq: str, n: int) -> pd.Timestamp:
    """The start of the `n`-th last calendar period of `freq` complete by the cutoff."""
    last = period_of(cutoff - pd.Timedelta(days=1), freq)
    if last.end > cutoff:
        last = period_of(last.start - pd.Timedelta(days=1), freq)
    for _ in range(n - 1):
        last = period_of(last.start - pd.Timedelta(days=1), freq)
    return last.start


def _date(value: object, name: str) -> pd.Timestamp:
    text = str(value)
    try:
        return parse_period(text).start
    except InvalidInput:
        pass
    try:
        return as_timestamp(value)
    except (ValueError, TypeError, InvalidInput):
        raise InvalidInput(
            f"{name}: {value!r} is not a date or period (use 2017-01-01, 2017-Q1 or 2017-01)"
        ) from None


def _range_end(value: object, name: str) -> pd.Timestamp:
    """The first instant after `--to`: the end of a period, the day after a date."""
    try:
        return parse_period(str(value)).end
    except InvalidInput:
        return _date(value, name).normalize() + pd.Timedelta(days=1)


@dataclass
class _Origin:
    """What every forecast made at one origin shares: the models fitted then, the pipeline,
    what was won before it."""

    models: ForecastModels
    pipeline: pd.DataFrame
    shown: pd.DataFrame
    won: pd.DataFrame  # won before the origin, as known then (`naive.won_before`)


def _replay(
    history: DealHistory,
    windows: list[Period],
    freq: str,
    horizons: tuple[int, ...],
    cutoff: pd.Timestamp,
    by: str | None,
    settings: Settings,
    progress: Progress | None,
    refit_weeks: int = 1,
) -> tuple[list[PeriodResult], int]:
    """Every (window, horizon) forecast, walking the distinct origins in time order and fitting
    at most once at each: every `refit_weeks` weeks, as a product that retrains on a schedule
    (between two fits, the latest models with the pipeline, stage win rates and new-deal pace
    as of each origin). Returns the results (by window, then horizon) and the number of fits."""
    column = GROUP_COLUMNS.get(by) if by else None
    deals = history.deals
    won_all = deals[(deals["status"] == WON) & deals["closed_at"].notna()]
    closes = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].dropna()
    first_close = closes.min() if len(closes) else None
    last_day = (cutoff - pd.Timedelta(days=1)).date()
    jobs: dict[pd.Timestamp, list[tuple[int, Period, int]]] = {}
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
    fitted = 0
    length = naive.LENGTHS[freq]
    probes: list[Probe] = []  # every fitted origin's forecasts of the next days: drift
    last: ForecastModels | None = None  # the latest fit: reused until `refit_weeks` old
    for origin in sorted(jobs):
        if progress:
            progress(f"fitting as of {origin.date()} ({len(jobs[origin])} forecasts)")
        state: _Origin | None = None
        reason = ""
        if first_close is None or first_close + length > origin:
            reason = (
                f"less than a {freq} of outcomes before {origin.date()} (the first deal closed "
                f"{first_close.date() if first_close is not None else 'never'}): forecasts are "
                f"scored once a full {freq} of history is known, as the run rate and the models "
                "need it"
            )
        else:
            try:
                if last is None or origin - last.as_of >= refit_weeks * WEEK:
                    last = fit_forecast_models(history, origin, settings=settings)
                    fitted += 1
                models = (
                    last if last.as_of == origin else refreshed(last, history, origin, settings)
                )
                state = _origin(history, models, origin, column, won_all, freq, probes)
            except InsufficientHistory as exc:
                reason = str(exc)
        for index, per, h in jobs[origin]:
            if state is None:
                results[index] = PeriodResult(
                    per, "skipped", reason=reason, horizon_weeks=h, origin=origin
                )
            else:
                results[index] = _one_forecast(
                    history, state, per, h, origin, won_all, column, by, settings, probes
                )
    return [r for r in results if r is not None], fitted


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
        actual = won_all.loc[window.contains(won_all["closed_at"]), "amount"].fillna(0).sum()
        probes.append(Probe(origin, level, span, fc.total.expected, float(actual)))
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
