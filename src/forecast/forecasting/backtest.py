"""Backtest: replay history and score each forecast against what was won, beside naive ones.

**Windows and origins.** With `every="period"` the target windows are the calendar periods of
`freq`; with `every="week"` they are rolling windows of the period's length (a quarter from
15 May ends 15 August) starting every Monday, so a year of data gives dozens of forecasts instead
of four. Each window is forecast at every horizon h (weeks): as of the origin = window start − h
weeks, with models fitted only on what was known before the origin (`DealHistory.known_before`:
no stage entry, close or amount recorded at or after it). Windows sharing an origin share one
fit: the replay walks the distinct origins in order and fits once at each.

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

Reps' own calls, where the data carries them (`rep_probability`, `forecast_category`,
`expected_close_at`), are scored per rep (horizon 0 only) beside the model's pipeline forecast
for the same rep and the same deals (open at t0): the rep's probability-weighted call (Σ amount ×
rep_probability over deals the rep expected to close inside the period), Commit and Commit + Best
Case totals, each against the revenue those open deals actually brought in. The store keeps the
current call only: the backtest takes it as the call the rep made before t0, which holds where
calls are set when a deal is opened (as in the generated data) and flatters reps whose CRM lets
them edit calls later.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast import timing as tm
from forecast.data.stages import LOST, WON
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.forecasting import choice, naive
from forecast.forecasting.drift import measure_drift
from forecast.forecasting.fitted import ForecastModels, fit_forecast_models
from forecast.forecasting.revenue import GROUP_COLUMNS, MISSING_GROUP, forecast_pipeline
from forecast.history import DealHistory, as_timestamp
from forecast.periods import FREQS, Period, parse_period, period_of, periods_between
from forecast.settings import Settings, get_settings

#: The forecasts a backtest scores, and how each is labelled.
METHODS = {
    "model": "our forecast",
    "weighted_pipeline": "weighted pipeline",
    "stage_km": "per-stage close-time baseline",
    **naive.NAIVE,
    choice.CHOSEN: choice.CHOSEN_LABEL,
}
#: The naive forecasts ours must beat: the best of them at each origin is the bar.
NAIVE_SET = ("run_rate", "last_period", "last_year", "weighted_pipeline")
EVERY = ("period", "week")
#: Horizons (weeks before the window starts) when none are given.
DEFAULT_HORIZONS = {"period": (0,), "week": (0, 4, 8, 13)}
MAX_HORIZON_WEEKS = 104
#: Sealed periods when not given: none for calendar periods (today's figures), two for weekly.
DEFAULT_SEALED = {"period": 0, "week": 2}
WILSON_Z = 1.959963984540054  # 95%
WEEK = pd.Timedelta(days=7)
Progress = Callable[[str], None]
#: A forecast table's columns: what a track record keeps (`forecasting.track_record`)...
RECORD_COLUMNS = (
    "origin",
    "horizon_weeks",
    "window",
    "start",
    "end",
    "sealed",
    "method",
    "actual",
    "forecast",
    "p10",
    "p50",
    "p90",
)
#: ...and what the backtest adds: the method chosen there, and ours with its empirical range.
TABLE_COLUMNS = (
    *RECORD_COLUMNS,
    "chosen_method",
    "p10_empirical",
    "p50_empirical",
    "p90_empirical",
)


@dataclass
class PeriodResult:
    """One window's forecast as of its origin (horizon weeks before its start), beside what
    happened."""

    period: Period
    status: str  # "ok" | "skipped"
    reason: str = ""
    actual: float = 0.0
    actual_pipeline: float = 0.0  # won from deals open at the origin
    actual_new: float = 0.0  # won from deals created at or after the origin
    open_deals: int = 0
    forecasts: dict[str, float] = field(default_factory=dict)
    p10: float = math.nan
    p50: float = math.nan
    p90: float = math.nan
    expected_new: float | None = None
    method: str = ""
    drift: float = 0.0
    drift_windows: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)
    reps: list[dict[str, Any]] = field(default_factory=list)
    horizon_weeks: int = 0
    origin: pd.Timestamp | None = None
    sealed: bool = False
    # The choosing (`_choose_all`): what users would have seen, and ours on its past errors.
    chosen: dict[str, Any] | None = None  # method, label, p10/p50/p90, range, reason, ...
    model_empirical: tuple[float, float, float] | None = None  # ours: P10, P50, P90

    @property
    def in_range(self) -> bool:
        return bool(self.p10 <= self.actual <= self.p90)

    def errors(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, value in self.forecasts.items():
            err = value - self.actual
            out[name] = {
                "forecast": value,
                "error": err,
                "abs_error": abs(err),
                "pct_error": err / self.actual if self.actual else math.nan,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "period": self.period.label,
            "start": str(self.period.start.date()),
            "end": str(self.period.end.date()),
            "horizon_weeks": self.horizon_weeks,
            "origin": str(self.origin.date()) if self.origin is not None else None,
            "sealed": self.sealed,
            "status": self.status,
        }
        if self.status != "ok":
            data["reason"] = self.reason
            return data
        data.update(
            actual=_r(self.actual),
            actual_from_pipeline=_r(self.actual_pipeline),
            actual_from_new_deals=_r(self.actual_new),
            open_deals=self.open_deals,
            method=self.method,
            p10=_r(self.p10),
            p50=_r(self.p50),
            p90=_r(self.p90),
            expected_new_deals=_r(self.expected_new),
            in_p10_p90=self.in_range,
            drift=_pct(self.drift),
            drift_windows=self.drift_windows,
            methods={
                k: {n: _r(v) if n != "pct_error" else _pct(v) for n, v in e.items()}
                for k, e in self.errors().items()
            },
        )
        if self.chosen is not None:
            data["chosen"] = {
                k: _r(v) if k in ("forecast", "p10", "p50", "p90") else v
                for k, v in self.chosen.items()
            }
        if self.model_empirical is not None:
            data["model_empirical_range"] = [_r(v) for v in self.model_empirical]
        if self.groups:
            data["groups"] = self.groups
        if self.reps:
            data["reps"] = self.reps
        return data


# --- scores ---------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): honest for small counts,
    where 2 of 3 is anything from 21% to 94%."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def pinball_loss(actual: np.ndarray, quantile: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of forecasts of the q-quantile."""
    diff = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def _share(hits: Iterable[bool]) -> dict[str, Any]:
    flags = list(hits)
    n, k = len(flags), int(sum(flags))
    lo, hi = wilson_interval(k, n)
    return {"n": n, "hits": k, "share": k / n if n else math.nan, "wilson_95": [lo, hi]}


def _point_scores(actual: np.ndarray, forecast: np.ndarray) -> dict[str, Any]:
    err = forecast - actual
    total = actual.sum()
    return {
        "n": len(actual),
        "wape": float(np.abs(err).sum() / total) if total else math.nan,
        "bias": float(err.sum() / total) if total else math.nan,
        "mean_abs_error": float(np.abs(err).mean()),
        "pinball_p50": float(np.mean(np.abs(err)) / 2),
    }


def _score_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Scores of a set of forecasts, each a dict with actual, the methods' forecasts and our
    p10/p50/p90: per method WAPE, bias, pinball; our coverage; how often ours beat the best
    naive forecast."""
    out: dict[str, Any] = {"forecasts": len(lines), "methods": {}}
    for name in METHODS:
        have = [ln for ln in lines if ln.get(name) is not None]
        if not have:
            continue
        actual = np.array([ln["actual"] for ln in have], dtype=float)
        scores = _point_scores(actual, np.array([ln[name] for ln in have], dtype=float))
        prefix = {"model": "", choice.CHOSEN: "chosen_"}.get(name)
        if prefix is not None and all(f"{prefix}p10" in ln for ln in have):
            for q, key in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90")):
                scores[f"pinball_{key}"] = pinball_loss(
                    actual, np.array([ln[prefix + key] for ln in have], dtype=float), q
                )
        out["methods"][name] = scores
    ours = [ln for ln in lines if ln.get("model") is not None]
    out["coverage_p10_p90"] = _share(ln["p10"] <= ln["actual"] <= ln["p90"] for ln in ours)
    recalibrated = [ln for ln in ours if ln.get("empirical_p10") is not None]
    if recalibrated:
        # Ours with the range its own past errors give (where enough windows had ended).
        out["coverage_p10_p90_empirical"] = _share(
            ln["empirical_p10"] <= ln["actual"] <= ln["empirical_p90"] for ln in recalibrated
        )
    chosen = [ln for ln in lines if ln.get(choice.CHOSEN) is not None]
    if chosen:
        out["coverage_p10_p90_chosen"] = _share(
            ln["chosen_p10"] <= ln["actual"] <= ln["chosen_p90"] for ln in chosen
        )
        counts: dict[str, int] = {}
        for ln in chosen:
            counts[ln["chosen_method"]] = counts.get(ln["chosen_method"], 0) + 1
        out["chosen_methods"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    wins = []
    for ln in ours:
        naive_errors = [abs(ln[m] - ln["actual"]) for m in NAIVE_SET if ln.get(m) is not None]
        if naive_errors:
            wins.append(abs(ln["model"] - ln["actual"]) < min(naive_errors))
    out["beats_best_naive"] = _share(wins)
    if chosen:
        won = []
        for ln in chosen:
            naive_errors = [abs(ln[m] - ln["actual"]) for m in NAIVE_SET if ln.get(m) is not None]
            if naive_errors:
                won.append(abs(ln[choice.CHOSEN] - ln["actual"]) <= min(naive_errors))
        out["chosen_at_least_as_good_as_best_naive"] = _share(won)
    return out


def _line(p: PeriodResult) -> dict[str, Any]:
    line = {"actual": p.actual, "p10": p.p10, "p50": p.p50, "p90": p.p90, **p.forecasts}
    if p.chosen is not None:
        line["chosen_method"] = p.chosen["method"]
        for key in ("p10", "p50", "p90"):
            line[f"chosen_{key}"] = p.chosen[key]
    if p.model_empirical is not None:
        for key, value in zip(("p10", "p50", "p90"), p.model_empirical, strict=True):
            line[f"empirical_{key}"] = value
    return line


@dataclass
class BacktestReport:
    """Every forecast's result, the scores per horizon, and the sealed check apart."""

    freq: str
    by: str | None
    periods: list[PeriodResult]
    seconds: float = 0.0
    dataset: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. fields the leak check left out
    every: str = "period"
    horizons: tuple[int, ...] = (0,)
    export_date: pd.Timestamp | None = None
    sealed_from: pd.Timestamp | None = None  # windows reaching past this are the sealed check
    origins_fitted: int = 0

    @property
    def scored(self) -> list[PeriodResult]:
        return [p for p in self.periods if p.status == "ok"]

    @property
    def headline(self) -> list[PeriodResult]:
        """Scored forecasts outside the sealed check: what the headline figures are made of."""
        return [p for p in self.scored if not p.sealed]

    def overall(self) -> dict[str, Any]:
        """At the first horizon, over the headline forecasts: WAPE, bias and mean absolute
        percentage error per method; P10–P90 coverage; per-group figures."""
        horizon = self.horizons[0]
        done = [p for p in self.headline if p.horizon_weeks == horizon]
        out: dict[str, Any] = {
            "horizon_weeks": horizon,
            "periods": sum(1 for p in self.periods if p.horizon_weeks == horizon),
            "periods_scored": len(done),
        }
        if not done:
            return out
        actual = np.array([p.actual for p in done])
        for name in METHODS:
            if not all(name in p.forecasts for p in done):
                continue
            fc = np.array([p.forecasts[name] for p in done])
            err = fc - actual
            out[name] = {
                "wape": float(np.abs(err).sum() / actual.sum()) if actual.sum() else math.nan,
                "bias": float(err.sum() / actual.sum()) if actual.sum() else math.nan,
                "mean_abs_error": float(np.abs(err).mean()),
                "mape": float(np.mean(np.abs(err[actual > 0]) / actual[actual > 0]))
                if (actual > 0).any()
                else math.nan,
            }
        out["coverage_p10_p90"] = float(np.mean([p.in_range for p in done]))
        groups = [g for p in done for g in p.groups]
        if groups:
            g_act = np.array([g["actual"] for g in groups])
            g_model = np.array([g["expected"] for g in groups])
            inside = [g["p10"] <= g["actual"] <= g["p90"] for g in groups]
            out["groups"] = {
                "forecasts": len(groups),
                "coverage_p10_p90": float(np.mean(inside)),
                "wape_model": float(np.abs(g_model - g_act).sum() / g_act.sum())
                if g_act.sum()
                else math.nan,
            }
            if all(g.get("weighted_pipeline") is not None for g in groups):
                g_wp = np.array([g["weighted_pipeline"] for g in groups])
                out["groups"]["wape_weighted_pipeline"] = (
                    float(np.abs(g_wp - g_act).sum() / g_act.sum()) if g_act.sum() else math.nan
                )
        return out

    def horizon_scores(self, *, sealed: bool = False) -> list[dict[str, Any]]:
        """Per horizon, over the headline forecasts (or the sealed check's): per method WAPE,
        bias and pinball loss; our P10–P90 coverage (count, 95% Wilson interval); the share of
        forecasts where ours beat the best naive one; the same per group with `by`."""
        out = []
        for h in self.horizons:
            done = [p for p in self.scored if p.horizon_weeks == h and p.sealed == sealed]
            entry: dict[str, Any] = {"horizon_weeks": h, **_score_lines([_line(p) for p in done])}
            if self.by:
                per_group: dict[str, list[dict[str, Any]]] = {}
                for p in done:
                    for g in p.groups:
                        line = {"actual": g["actual"], "model": g["expected"], **g}
                        per_group.setdefault(g["group"], []).append(line)
                entry["groups"] = {
                    name: _score_lines(lines) for name, lines in sorted(per_group.items())
                }
            out.append(entry)
        return out

    def forecast_table(self) -> pd.DataFrame:
        """One row per scored forecast and method: origin, horizon, window, sealed, actual,
        forecast (and our P10/P50/P90). What choosing a method by its past error reads."""
        rows = []
        for p in self.scored:
            for name, value in p.forecasts.items():
                ours = name == "model"
                ranged = {"p10": p.p10, "p50": p.p50, "p90": p.p90} if ours else {}
                if name == choice.CHOSEN and p.chosen is not None:
                    ranged = {k: p.chosen[k] for k in ("p10", "p50", "p90")}
                empirical = p.model_empirical if ours and p.model_empirical else (math.nan,) * 3
                rows.append(
                    {
                        "origin": p.origin,
                        "horizon_weeks": p.horizon_weeks,
                        "window": p.period.label,
                        "start": p.period.start,
                        "end": p.period.end,
                        "sealed": p.sealed,
                        "method": name,
                        "actual": p.actual,
                        "forecast": value,
                        "p10": ranged.get("p10", math.nan),
                        "p50": ranged.get("p50", math.nan),
                        "p90": ranged.get("p90", math.nan),
                        "chosen_method": p.chosen["method"]
                        if name == choice.CHOSEN and p.chosen is not None
                        else None,
                        "p10_empirical": empirical[0],
                        "p50_empirical": empirical[1],
                        "p90_empirical": empirical[2],
                    }
                )
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def coverage(self, *, sealed: bool = False) -> dict[str, Any]:
        """P10–P90 coverage over every horizon's forecasts (headline or sealed): ours with its
        model's range, ours with its empirical range, and the chosen forecast with its range.
        The issue's target is 70–90% over all backtest forecasts."""
        done = [p for p in self.scored if p.sealed == sealed]
        out = {"model": _share(p.in_range for p in done)}
        recal = [p for p in done if p.model_empirical is not None]
        out["model_empirical"] = _share(
            p.model_empirical[0] <= p.actual <= p.model_empirical[2]
            for p in recal
            if p.model_empirical is not None
        )
        chosen = [p.chosen for p in done if p.chosen is not None]
        out["chosen"] = _share(
            c["p10"] <= p.actual <= c["p90"] for p in done if (c := p.chosen) is not None
        )
        out["chosen_empirical_range"] = sum(c["range"] == "empirical" for c in chosen)
        return out

    def rep_scores(self) -> list[dict[str, Any]]:
        """Per rep over all headline periods: error and bias of each call and of the model."""
        rows = [r for p in self.headline for r in p.reps]
        if not rows:
            return []
        frame = pd.DataFrame(rows)
        out = []
        calls = [c for c in ("rep_call", "commit", "best_case", "model") if c in frame]
        for rep, part in frame.groupby("rep", sort=True):
            actual = part["actual"].to_numpy(dtype=float)
            entry: dict[str, Any] = {"rep": rep, "periods": len(part), "actual": _r(actual.sum())}
            for call in calls:
                err = part[call].to_numpy(dtype=float) - actual
                entry[f"{call}_mean_abs_error"] = _r(np.abs(err).mean())
                entry[f"{call}_bias"] = _r(err.mean())
                entry[f"{call}_wape"] = (
                    _pct(np.abs(err).sum() / actual.sum()) if actual.sum() else None
                )
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        overall = self.overall()
        return {
            "freq": self.freq,
            "every": self.every,
            "horizons": list(self.horizons),
            "by": self.by,
            "dataset": self.dataset,
            "export_date": _day(self.export_date),
            "sealed_from": _day(self.sealed_from),
            "origins_fitted": self.origins_fitted,
            "periods": [p.to_dict() for p in self.periods],
            "overall": _rounded(overall),
            "horizon_scores": _rounded(self.horizon_scores()),
            "sealed_check": _rounded(self.horizon_scores(sealed=True))
            if self.sealed_from is not None
            else None,
            "coverage": _rounded(self.coverage()),
            "sealed_coverage": _rounded(self.coverage(sealed=True))
            if self.sealed_from is not None
            else None,
            "reps": self.rep_scores(),
            "seconds": round(self.seconds, 2),
            "notes": list(self.notes),
        }


def _day(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else str(ts.date())


def _r(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else round(f, 2)


def _pct(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else round(f, 4)


def _rounded(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _rounded(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_rounded(v) for v in d]
    if isinstance(d, float):
        return None if math.isnan(d) else round(d, 4)
    return d


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
) -> BacktestReport:
    """Forecast past windows of `freq` at each horizon, with models fitted on what was known at
    each origin, and score them against the revenue won inside each window.

    `every="period"`: the calendar periods; `every="week"`: rolling windows of the period's
    length starting every Monday. `horizons`: weeks between origin and window start (default:
    0 for periods, 0, 4, 8, 13 for weekly windows). `start` / `end` (dates or periods like
    2017-01) bound the windows. Windows ending after the export date (`export_date`, default the
    newest `updated_at`) are not scored; the last `sealed` complete periods (default: 2 weekly, 0
    for periods) are scored apart as the sealed check.
    """
    started = time.perf_counter()
    if freq not in FREQS:
        raise InvalidInput(f"--freq must be one of {', '.join(FREQS)}, got {freq!r}")
    if every not in EVERY:
        raise InvalidInput(f"--every must be one of {', '.join(EVERY)}, got {every!r}")
    if by is not None and by not in GROUP_COLUMNS:
        raise InvalidInput(f"cannot group by {by!r}: use one of {', '.join(GROUP_COLUMNS)}")
    steps = _horizons(horizons if horizons is not None else DEFAULT_HORIZONS[every])
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
    results, fitted = _replay(history, windows, steps, cutoff, by, settings, progress)
    for r in results:
        r.sealed = sealed_from is not None and r.period.end > sealed_from
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
    """Give each scored forecast the `chosen` pseudo-method and ours its empirical range, from
    the forecasts of windows that had ended by its origin (`choice.choose` reads no other row):
    what users would have been shown then."""
    table = BacktestReport("", None, results).forecast_table()
    table = table[table["method"] != choice.CHOSEN]
    for p in results:
        if p.status != "ok" or p.origin is None:
            continue
        c = choice.choose(table, p.origin, p.horizon_weeks, available=p.forecasts)
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
        own = choice.empirical_range(table, p.origin, p.horizon_weeks)
        if own is not None:
            p.model_empirical = choice.scaled(p.forecasts["model"], own)
    for p in results:
        if p.chosen is not None:
            p.forecasts[choice.CHOSEN] = p.chosen["forecast"]


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
    """Windows of the period's length starting every Monday: from the first Monday at which a
    deal had closed (nothing to learn from before) or `lo`, to the last one ending by the export
    date (or `hi`)."""
    deals = history.deals
    closes = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].dropna()
    if lo is None:
        if closes.empty:
            raise InvalidInput("no deal has closed in the data: nothing to backtest")
        lo = as_timestamp(closes.min())
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
    horizons: tuple[int, ...],
    cutoff: pd.Timestamp,
    by: str | None,
    settings: Settings,
    progress: Progress | None,
) -> tuple[list[PeriodResult], int]:
    """Every (window, horizon) forecast, walking the distinct origins in time order and fitting
    once at each. Returns the results (by window, then horizon) and the number of fits."""
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
    for origin in sorted(jobs):
        if progress:
            progress(f"fitting as of {origin.date()} ({len(jobs[origin])} forecasts)")
        state: _Origin | None = None
        reason = ""
        if first_close is None or first_close >= origin:
            reason = (
                f"no deal had closed before {origin.date()}: there is no history to forecast from"
            )
        else:
            try:
                state = _fit_origin(history, origin, column, settings)
                fitted += 1
            except InsufficientHistory as exc:
                reason = str(exc)
        for index, per, h in jobs[origin]:
            if state is None:
                results[index] = PeriodResult(
                    per, "skipped", reason=reason, horizon_weeks=h, origin=origin
                )
            else:
                results[index] = _one_forecast(
                    history, state, per, h, origin, won_all, column, by, settings
                )
    return [r for r in results if r is not None], fitted


def _fit_origin(
    history: DealHistory, origin: pd.Timestamp, column: str | None, settings: Settings
) -> _Origin:
    models = fit_forecast_models(history, origin, settings=settings)
    pipeline = tm.pipeline_rows(history, origin)
    shown = history.as_of(origin)
    won = naive.won_before(history.known_before(origin), column)
    return _Origin(models, pipeline, shown, won)


def _drift(history: DealHistory, models: ForecastModels, span: float, settings: Settings):
    """Drift measured on past windows of the forecast's span (from the origin, or the window
    start when later, to its end), cached per models and span as `forecast_revenue` does."""
    key = ("drift", round(span, 6))
    if key not in models.cache:
        models.cache[key] = measure_drift(history, models, span, settings=settings)
    return models.cache[key]


def _naive_forecasts(
    state: _Origin, per: Period, origin: pd.Timestamp, settings: Settings
) -> dict[str, pd.Series | None]:
    return {
        "run_rate": naive.run_rate(state.won, origin, per, settings.new_deal_window_days),
        "last_period": naive.last_period(state.won, origin, per),
        "last_year": naive.same_period_last_year(state.won, origin, per),
    }


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
) -> PeriodResult:
    models, pipeline, shown = state.models, state.pipeline, state.shown
    known_groups = (
        set(shown[column].astype(object).where(shown[column].notna(), MISSING_GROUP).astype(str))
        if column and column in shown
        else None
    )
    span = (per.end - max(per.start, origin)) / tm.DAY
    drift = _drift(history, models, span, settings)
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
    naives = _naive_forecasts(state, per, origin, settings)
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
                "actual": _r(actual_by.get(g.group, 0.0)),
                "expected": _r(g.expected),
                "p10": _r(g.p10),
                "p50": _r(g.p50),
                "p90": _r(g.p90),
                "weighted_pipeline": _r(g.weighted_pipeline),
                "stage_km": _r(km_by.get(g.group)),
                "deals": g.deals,
            }
            for name, values in naives.items():
                line[name] = None if values is None else _r(values.get(g.group, 0.0))
            result.groups.append(line)
    if h == 0:
        result.reps = _rep_calls(shown, pipeline, fc.deals, won, per)
    return result


def _rep_calls(
    opportunities: pd.DataFrame,
    pipeline: pd.DataFrame,
    deals: pd.DataFrame | None,
    won: pd.DataFrame,
    per: Period,
) -> list[dict[str, Any]]:
    """Per rep: their own calls over their deals open at t0, the model's forecast of the same
    deals, and what those deals actually brought in during the period."""
    has_p = "rep_probability" in opportunities and opportunities["rep_probability"].notna().any()
    has_cat = (
        "forecast_category" in opportunities and opportunities["forecast_category"].notna().any()
    )
    if not (has_p or has_cat) or pipeline.empty or "owner" not in pipeline:
        return []
    info = opportunities.set_index("id")
    frame = pd.DataFrame(
        {
            "id": pipeline["id"].to_numpy(),
            "rep": pipeline["owner"].astype(object).fillna("(none)").to_numpy(),
            "amount": pipeline["amount"]
            .fillna(pipeline["list_price"])
            .fillna(0)
            .to_numpy(dtype=float),
        }
    )
    expected_close = (
        frame["id"].map(info["expected_close_at"])
        if "expected_close_at" in info
        else pd.Series(pd.NaT, index=frame.index)
    )
    # A deal counts toward the rep's call for the period when the rep expected it to close
    # inside it (all open deals when the data gives no expected close date).
    in_period = per.contains(expected_close) | expected_close.isna()
    won_amount = won.set_index("id")["amount"].fillna(0)
    frame["actual"] = frame["id"].map(won_amount).fillna(0.0).to_numpy()
    if deals is not None:
        frame["model"] = frame["id"].map(deals.set_index("id")["expected"]).fillna(0.0)
    if has_p:
        p = frame["id"].map(info["rep_probability"]).astype(float)
        frame["rep_call"] = (frame["amount"] * p.fillna(0) * in_period).to_numpy()
    if has_cat:
        cat = frame["id"].map(info["forecast_category"]).astype(object)
        frame["commit"] = frame["amount"] * ((cat == "Commit") & in_period)
        frame["best_case"] = frame["amount"] * (cat.isin(["Commit", "Best Case"]) & in_period)
    cols = [c for c in ("actual", "model", "rep_call", "commit", "best_case") if c in frame]
    sums = frame.groupby("rep")[cols].sum()
    sums["deals"] = frame.groupby("rep").size()
    return [
        {"period": per.label, "rep": str(rep), **{c: float(v) for c, v in row.items()}}
        for rep, row in sums.iterrows()
    ]
