"""Backtest: replay history period by period and score the forecast against what was won.

For each past period [t0, t1): the models are fitted on the data as known just before t0
(`timing.known_before`: no stage entry, close or amount recorded at or after t0), the pipeline is
rebuilt from the stage history, the forecast is made as of t0, and it is compared with the revenue
actually won with a close date inside [t0, t1), from deals open at t0 and deals created inside the
period. The weighted pipeline gets the same pipeline and the per-stage win rates known at t0; the
per-stage close-time baseline (`stage_km`) runs through the same forecast, to show what the
time-to-close model adds.

Scored per period and overall: error (forecast − actual), absolute and percentage error, WAPE
(Σ|error| / Σ actual) and bias for each method, and how often the actual fell inside P10–P90.

Reps' own calls, where the data carries them (`rep_probability`, `forecast_category`,
`expected_close_at`), are scored per rep beside the model's pipeline forecast for the same rep and
the same deals (open at t0): the rep's probability-weighted call (Σ amount × rep_probability over
deals the rep expected to close inside the period), Commit and Commit + Best Case totals, each
against the revenue those open deals actually brought in. The store keeps the current call only:
the backtest takes it as the call the rep made before t0, which holds where calls are set when a
deal is opened (as in the generated data) and flatters reps whose CRM lets them edit calls later.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast import timing as tm
from forecast.data.stages import WON
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.forecasting.drift import measure_drift
from forecast.forecasting.fitted import fit_forecast_models
from forecast.forecasting.revenue import GROUP_COLUMNS, forecast_pipeline
from forecast.history import DealHistory, as_timestamp
from forecast.periods import FREQS, Period, parse_period, periods_between
from forecast.settings import Settings, get_settings

#: The forecasts a backtest scores, and how each is labelled.
METHODS = {
    "model": "our forecast",
    "weighted_pipeline": "weighted pipeline",
    "stage_km": "per-stage close-time baseline",
}
Progress = Callable[[str], None]


@dataclass
class PeriodResult:
    """One period's forecast as of its start, beside what happened."""

    period: Period
    status: str  # "ok" | "skipped"
    reason: str = ""
    actual: float = 0.0
    actual_pipeline: float = 0.0  # won from deals open at t0
    actual_new: float = 0.0  # won from deals created inside the period
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
        if self.groups:
            data["groups"] = self.groups
        if self.reps:
            data["reps"] = self.reps
        return data


@dataclass
class BacktestReport:
    """Every period's result and the overall scores."""

    freq: str
    by: str | None
    periods: list[PeriodResult]
    seconds: float = 0.0
    dataset: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. fields the leak check left out

    @property
    def scored(self) -> list[PeriodResult]:
        return [p for p in self.periods if p.status == "ok"]

    def overall(self) -> dict[str, Any]:
        """WAPE, bias and mean absolute percentage error per method; P10–P90 coverage."""
        done = self.scored
        out: dict[str, Any] = {"periods": len(self.periods), "periods_scored": len(done)}
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

    def rep_scores(self) -> list[dict[str, Any]]:
        """Per rep over all periods: error and bias of each call and of the model, same deals."""
        rows = [r for p in self.scored for r in p.reps]
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
            "by": self.by,
            "dataset": self.dataset,
            "periods": [p.to_dict() for p in self.periods],
            "overall": _rounded(overall),
            "reps": self.rep_scores(),
            "seconds": round(self.seconds, 2),
            "notes": list(self.notes),
        }


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
    if isinstance(d, float):
        return None if math.isnan(d) else round(d, 4)
    return d


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
) -> BacktestReport:
    """Forecast each past period of `freq` as of its start, with models fitted on what was known
    then, and score it against the revenue won inside it.

    `start` / `end` (dates or periods like 2017-01) bound the periods; by default every period
    from the first deal's creation to the last one the data covers in full.
    """
    started = time.perf_counter()
    if freq not in FREQS:
        raise InvalidInput(f"--freq must be one of {', '.join(FREQS)}, got {freq!r}")
    if by is not None and by not in GROUP_COLUMNS:
        raise InvalidInput(f"cannot group by {by!r}: use one of {', '.join(GROUP_COLUMNS)}")
    if history.deals.empty:
        raise InvalidInput("no deals in the data: nothing to backtest")
    settings = settings or get_settings()
    observed = history.end
    first = as_timestamp(history.deals["created_at"].min())
    periods = periods_between(
        _date(start, "--from") if start is not None else first,
        _date(end, "--to") if end is not None else observed,
        freq,
    )
    # A period counts only once the data covers it in full (closes dated on its last day too).
    periods = [p for p in periods if p.end <= observed.normalize() + pd.Timedelta(days=1)]
    if not periods:
        raise InvalidInput(f"no complete {freq} in the range: the data ends {observed.date()}")
    results = []
    for per in periods:
        if progress:
            progress(f"{per.label}: fitting as of {per.start.date()}")
        results.append(_one_period(history, per, by, settings))
    return BacktestReport(
        freq, by, results, time.perf_counter() - started, dataset, notes=list(history.leak_notes)
    )


def _date(value: object, name: str) -> pd.Timestamp:
    text = str(value)
    try:
        return parse_period(text).start
    except InvalidInput:
        pass
    try:
        return as_timestamp(value)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{name}: {value!r} is not a date or period (use 2017-01-01, 2017-Q1 or 2017-01)"
        ) from None


def _one_period(
    history: DealHistory,
    per: Period,
    by: str | None,
    settings: Settings,
) -> PeriodResult:
    t0 = per.start
    try:
        models = fit_forecast_models(history, t0, settings=settings)
    except InsufficientHistory as exc:
        return PeriodResult(per, "skipped", reason=str(exc))
    pipeline = tm.pipeline_rows(history, t0)
    shown = history.as_of(t0)
    column = GROUP_COLUMNS.get(by) if by else None
    known = shown
    known_groups = (
        set(known[column].astype(object).where(known[column].notna(), "(none)").astype(str))
        if column and column in known
        else None
    )
    drift = measure_drift(history, models, per.days, settings=settings)
    fc = forecast_pipeline(pipeline, models, per, t0, by=by, known_groups=known_groups, drift=drift)
    forecasts = {"model": fc.total.expected}
    if fc.total.weighted_pipeline is not None:
        forecasts["weighted_pipeline"] = fc.total.weighted_pipeline
    km = None
    if models.baseline is not None and models.timing is not models.baseline:
        km = forecast_pipeline(
            pipeline,
            replace(models, timing=models.baseline),
            per,
            t0,
            by=by,
            known_groups=known_groups,
            drift=drift,
        )
        forecasts["stage_km"] = km.total.expected

    # What happened: every deal won with a close date inside the period (full data).
    opportunities = history.deals
    won = opportunities[(opportunities["status"] == WON) & per.contains(opportunities["closed_at"])]
    open_ids = set(pipeline["id"])
    from_pipeline = won["id"].isin(open_ids)
    result = PeriodResult(
        per,
        "ok",
        actual=float(won["amount"].fillna(0).sum()),
        actual_pipeline=float(won.loc[from_pipeline, "amount"].fillna(0).sum()),
        actual_new=float(
            won.loc[~from_pipeline & (won["created_at"] >= t0), "amount"].fillna(0).sum()
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
    )
    if column:
        labels = won[column].astype(object).where(won[column].notna(), "(none)").astype(str)
        actual_by = won["amount"].fillna(0).groupby(labels.to_numpy()).sum()
        km_by = {g.group: g.expected for g in km.groups} if km else {}
        for g in fc.groups:
            result.groups.append(
                {
                    "group": g.group,
                    "actual": _r(actual_by.get(g.group, 0.0)),
                    "expected": _r(g.expected),
                    "p10": _r(g.p10),
                    "p90": _r(g.p90),
                    "weighted_pipeline": _r(g.weighted_pipeline),
                    "stage_km": _r(km_by.get(g.group)),
                    "deals": g.deals,
                }
            )
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
