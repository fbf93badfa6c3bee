"""What a backtest returns: each forecast beside what happened (`PeriodResult`), and the report
over all of them (`BacktestReport`): scores per horizon, the sealed check apart, the forecast
table a track record keeps, and the JSON the CLI prints and MLflow logs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast.forecasting import choice
from forecast.forecasting.accuracy import METHODS, score_lines, share
from forecast.formatting import rounded
from forecast.periods import Period

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
    #: Why the run rate could not be shown at the origin (`naive.still_filling`,
    #: `fitted.RecentChange`), if so.
    no_hedge: str | None = None

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
            actual=rounded(self.actual, 2),
            actual_from_pipeline=rounded(self.actual_pipeline, 2),
            actual_from_new_deals=rounded(self.actual_new, 2),
            open_deals=self.open_deals,
            method=self.method,
            p10=rounded(self.p10, 2),
            p50=rounded(self.p50, 2),
            p90=rounded(self.p90, 2),
            expected_new_deals=rounded(self.expected_new, 2),
            in_p10_p90=self.in_range,
            drift=rounded(self.drift, 4),
            drift_windows=self.drift_windows,
            methods={
                k: {n: rounded(v, 2) if n != "pct_error" else rounded(v, 4) for n, v in e.items()}
                for k, e in self.errors().items()
            },
        )
        if self.chosen is not None:
            data["chosen"] = {
                k: rounded(v, 2) if k in ("forecast", "p10", "p50", "p90") else v
                for k, v in self.chosen.items()
            }
        if self.model_empirical is not None:
            data["model_empirical_range"] = [rounded(v, 2) for v in self.model_empirical]
        if self.groups:
            data["groups"] = self.groups
        if self.reps:
            data["reps"] = self.reps
        return data


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
            entry: dict[str, Any] = {"horizon_weeks": h, **score_lines([_line(p) for p in done])}
            if self.by:
                per_group: dict[str, list[dict[str, Any]]] = {}
                for p in done:
                    for g in p.groups:
                        line = {"actual": g["actual"], "model": g["expected"], **g}
                        per_group.setdefault(g["group"], []).append(line)
                entry["groups"] = {
                    name: score_lines(lines) for name, lines in sorted(per_group.items())
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
        out = {"model": share(p.in_range for p in done)}
        recal = [p for p in done if p.model_empirical is not None]
        out["model_empirical"] = share(
            p.model_empirical[0] <= p.actual <= p.model_empirical[2]
            for p in recal
            if p.model_empirical is not None
        )
        chosen = [p.chosen for p in done if p.chosen is not None]
        out["chosen"] = share(
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
            entry: dict[str, Any] = {
                "rep": rep,
                "periods": len(part),
                "actual": rounded(actual.sum(), 2),
            }
            for call in calls:
                err = part[call].to_numpy(dtype=float) - actual
                entry[f"{call}_mean_abs_error"] = rounded(np.abs(err).mean(), 2)
                entry[f"{call}_bias"] = rounded(err.mean(), 2)
                entry[f"{call}_wape"] = (
                    rounded(np.abs(err).sum() / actual.sum(), 4) if actual.sum() else None
                )
            out.append(entry)
        return out

    def chosen_now(self) -> list[dict[str, Any]]:
        """Per horizon, what the record chooses at its end (the export date): the method
        `forecast revenue` and the API lead with for a period that far ahead, and why. None
        where too few past forecasts had ended to choose: the served forecast then shows ours
        or a hedge, by what the data says then (`choice.choose`'s `no_hedge`)."""
        from forecast.forecasting.backtest import SCORED_ONLY

        table = self.forecast_table()
        if table.empty:
            return []
        at = self.export_date if self.export_date is not None else table["end"].max()
        shown = [m for m in table["method"].unique() if m not in SCORED_ONLY]
        out = []
        for h in self.horizons:
            made = choice.choose(table, at, h, available=shown)
            method: str | None = made.method
            reason = made.reason
            if made.horizon_weeks_used is None:
                method = None
                reason = (
                    f"too few past forecasts to choose yet: {made.n} of those {h} weeks ahead "
                    f"had ended by {at.date()}, and {choice.MIN_PAST_FORECASTS} are needed; "
                    "`forecast revenue` shows the run rate, ours or a hedge, and says which and why"
                )
            out.append(
                {
                    "horizon_weeks": h,
                    "as_of": _day(at),
                    "method": method,
                    "label": None if method is None else made.label,
                    "reason": reason,
                    "past_forecasts": made.n,
                    "past_wape": _rounded(made.wape),
                }
            )
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
            "chosen_now": self.chosen_now(),
            "seconds": round(self.seconds, 2),
            "notes": list(self.notes),
        }


def _day(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else str(ts.date())


def _rounded(d: Any) -> Any:
    """Every float in nested scores rounded to 4 places (NaN as None)."""
    if isinstance(d, dict):
        return {k: _rounded(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_rounded(v) for v in d]
    return rounded(d, 4)
