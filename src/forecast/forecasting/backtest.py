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
seen. Only what a served forecast can show competes (`SCORED_ONLY` is scored, never chosen), so
the choosing backtested is the one users get. Ours is also scored with its empirical range (its
own past errors, the same earlier rows) beside the range of its model.

**Bounded by what the data saw.** The export date is the newest `updated_at` (or given). A window
that ends after it is only partly observed and is not scored. The last `sealed` complete periods
(calendar periods of `freq`) are a sealed check: forecasts whose window reaches into them are
scored apart and never mixed into the headline figures.
Reps' own calls are scored beside ours at horizon 0 (`rep_calls`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from forecast.data.currencies import currency_of
from forecast.data.stages import LOST, WON
from forecast.errors import InvalidInput
from forecast.forecasting import choice, naive
from forecast.forecasting.backtest_report import BacktestReport, PeriodResult
from forecast.forecasting.rep_calls import has_calls, hindsight_note
from forecast.forecasting.replay import Progress, replay
from forecast.groups import GROUP_COLUMNS, canonical_group
from forecast.history import DealHistory, as_timestamp
from forecast.periods import FREQS, Period, parse_period, period_of, periods_between
from forecast.settings import Settings, get_settings

if TYPE_CHECKING:
    from distributed import Client

    from forecast.parquet_export import PartitionedExport

EVERY = ("period", "week")
#: Horizons (weeks before the window starts) when none are given.
DEFAULT_HORIZONS = {"period": (0,), "week": (0, 4, 8, 13)}
MAX_HORIZON_WEEKS = 104
#: Sealed periods when not given: none for calendar periods (today's figures), two for weekly.
DEFAULT_SEALED = {"period": 0, "week": 2}
WEEK = pd.Timedelta(days=7)


# --- the backtest ---------------------------------------------------------------------------------


def export_date_of(history: DealHistory, source: PartitionedExport | None = None) -> pd.Timestamp:
    """When the data was exported: the newest `updated_at` (the newest record otherwise; of
    `source`, the dataset `history` summarises, where given). Expected close dates say nothing
    about it."""
    deals = history.deals
    if "updated_at" in deals and deals["updated_at"].notna().any():
        return as_timestamp(deals["updated_at"].max())
    if source is not None:
        if source.end is None:
            raise InvalidInput("the data holds no dates: nothing to learn from")
        return as_timestamp(source.end)
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
    client: Client | None = None,
    source: PartitionedExport | None = None,
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
    `client`: a Dask client whose cluster fits and forecasts the origins (`replay`); the same
    report as in process. `source`: the dataset read by partition on that cluster, `history`
    its summary (`parquet_export.PartitionedExport`): each worker then reads the whole history
    from the Parquet export or the store itself, and this process never holds it.
    """
    started = time.perf_counter()
    if freq not in FREQS:
        raise InvalidInput(f"--freq must be one of {', '.join(FREQS)}, got {freq!r}")
    if every not in EVERY:
        raise InvalidInput(f"--every must be one of {', '.join(EVERY)}, got {every!r}")
    by = canonical_group(by)
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
    exported = exported if exported is not None else export_date_of(history, source)
    # The data covers the export day in full (closes dated on it too).
    cutoff = exported.normalize() + pd.Timedelta(days=1)
    lo = _date(start, "--from") if start is not None else None
    hi = _range_end(end, "--to") if end is not None else None
    if lo is not None and lo >= cutoff:  # said as given, not as the Monday or period after it
        raise InvalidInput(
            f"--from {lo.date()} lies after the data's export date {exported.date()}: no window "
            "to backtest; give an earlier --from"
        )
    if every == "period":
        windows = _periods(history, freq, lo, hi, exported)
    else:
        windows = _weeks(history, freq, lo, hi, cutoff)
    sealed_from = _sealed_from(cutoff, freq, n_sealed) if n_sealed else None
    notes = list(history.leak_notes)
    currency_of(history.deals, notes)  # actuals and forecasts add amounts: say when they mix
    whole = source.whole(history) if source is not None else None
    results, fitted = replay(
        history,
        windows,
        freq,
        steps,
        cutoff,
        by,
        settings,
        progress,
        int(refit_weeks),
        client,
        whole,
    )
    for r in results:
        r.sealed = sealed_from is not None and r.period.end > sealed_from
    at_zero = [r for r in results if r.status == "ok" and r.horizon_weeks == 0]
    calls = source.has_calls if source is not None else has_calls(history.deals)
    if at_zero and not any(r.reps for r in at_zero) and calls:
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


#: Baselines scored beside the others but never shown to users: a served forecast does not make
#: them (the per-stage close-time baseline forecasts only today's open deals), so the backtested
#: choosing must not pick them either.
SCORED_ONLY = ("stage_km",)


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
        shown = [m for m in p.forecasts if m not in SCORED_ONLY]
        c = choice.choose(table, origin, p.horizon_weeks, available=shown, no_hedge=p.no_hedge)
        made = choice.apply_choice(c, p.forecasts, (p.p10, p.p50, p.p90))
        p.chosen = {
            "method": made.method,
            "label": made.label,
            "forecast": made.forecast,
            "p10": made.p10,
            "p50": made.p50,
            "p90": made.p90,
            "range": made.range,
            "horizon_weeks_used": c.horizon_weeks_used,
            "past_forecasts": c.n,
            "past_wape": c.wape,
            "reason": c.reason,
        }
        p.forecasts[choice.CHOSEN] = made.forecast


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
    deals = history.final_deals  # a close as the snapshots read it
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
