"""Choosing the forecast users get: the method that has been most accurate, with a range that held.

A forecast table (`BacktestReport.forecast_table()`: one row per origin, horizon and method with
the window's end, the actual and the forecast) says how each method did. `choose` reads only the
rows whose window ended by the origin asked about (their outcomes were known then) and picks the
method with the lowest WAPE at that horizon, or at the nearest horizon with enough rows (and says
which). Below `MIN_PAST_FORECASTS` past forecasts nothing shows that ours beats the naive
forecasts here, so the naive one is shown (`NAIVE_FIRST`: the run rate of recent won revenue,
with ours' range in proportion) and the reason says so; ours has to earn its place. But not
while the run rate still reads the record's first months, when deals created before the
record began are missing from its wins (`naive.still_filling`), nor where the deals created
lately are won or lost at a rate clearly not the older deals' and ours moved off the run rate
the way the business went (`fitted.RecentChange`): the run rate's wins, mostly older deals',
read the level the business has left. The weighted
pipeline then hedges ours for a window that starts now (`PIPELINE_HEDGE`); ours stands alone
for a later one.

**Candidates.** Every method in the table (ours, the naive forecasts, the weighted pipeline, the
per-stage baseline, ours recalibrated on its past errors: `recalibrated`) and, where `blends` is
on, the plain mean of ours and each naive forecast (`model+last_period`): a fixed pair has
nothing fitted, so its past error is as honest as a single method's, and it costs one addition.
**Each rival is judged on the same past as ours**: it competes only with a forecast for every
window of ours' record that ended in the last year (`SAME_PAST_WEEKS`), and is compared with ours
on the windows both forecast. A method that appeared later (ours recalibrated, once ours has
past errors; same period last year, after a year) is not judged on its latest few windows alone,
nor does it shrink the record the others are compared on: after a change in the business, ours
recalibrated on errors from before it adapted led over such a short stretch and then missed by
more than ours. **A rival
replaces ours only when its lead is larger than the noise** (`NOISE_GUARD` standard errors of
the paired difference, counted over the windows that do not overlap): weekly origins forecast
nearly the same quarter thirteen weeks running, so nine past forecasts can rest on one window,
and a lead one lucky window gave would otherwise swap the method (and its range) back and forth.
Of the rivals whose lead is clear of its noise, the one with the largest lead is chosen: where
the leader's lead is not, a blend of ours with a naive forecast may be (`noise_guard.cleared`).

Recency weights, the ranges' conformal bounds and the chance to reach a target are
`forecasting.past_ranges`'s.

Everything here is a pure function of a table and an origin: the backtest scores the choosing
itself with it (each forecast chosen from earlier windows only), and the served forecast can call
it on a stored table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast.errors import InvalidInput
from forecast.forecasting import naive
from forecast.forecasting.noise_guard import cleared
from forecast.forecasting.past_ranges import (  # noqa: F401 - named here too: `choice.scaled` etc.
    HALF_LIFE_WEEKS,
    conformal_bounds,
    group_bounds,
    p_reach_target,
    range_factors,
    recalibrate,
    recency_weights,
    scalable,
    scaled,
    separate_windows,
)

#: The fewest past forecasts a choice is made on: with n past errors the widest range they give
#: (their least and greatest) holds the next actual with probability (n − 1) / (n + 1), which
#: reaches the 80% a P10–P90 range promises at n = 9. Fewer, and ours is kept.
MIN_PAST_FORECASTS = 9
MODEL = "model"
#: The pseudo-method the backtest scores: whatever was chosen at each origin.
CHOSEN = "chosen"
CHOSEN_LABEL = "chosen by past error"
#: Ours recalibrated on its own past errors: times the median of actual / forecast over its
#: earlier forecasts whose windows had ended (calibration on outcomes later than its training).
RECALIBRATED = "model_recalibrated"
#: A rival is judged on the same past as ours: it must have forecast every window of ours' record
#: that ended in the last year before the origin (every season once; recency weights put 15/16
#: of the record there). A method that appeared later (ours recalibrated, which needs nine of
#: ours' past errors; same period last year, which needs a year of history) would otherwise be
#: judged on the latest few windows alone, where one stretch of luck decides.
SAME_PAST_WEEKS = 52.0
#: What users get before the record can choose: the run rate of recent won revenue, the naive
#: forecast a manager makes by hand. Issue 11's rule: where the data does not show that ours
#: beats the naive forecasts, the naive one is shown, and the reason says so. Until then
#: nothing tells ours from it; ours is shown beside it (its own line and range) and takes over
#: once its past windows show it more accurate. It was the mean of ours and the run rate
#: (a hedge) before 2026-12-07: that shipped half of an untested model as the forecast.
#: Never a run rate that cannot be one (none exists, a record still filling up, a level the
#: business has left: `no_hedge`); then, for a window that starts now, the weighted pipeline
#: hedges ours (`PIPELINE_HEDGE`), else ours stands alone.
NAIVE_FIRST = "run_rate"
#: The hedge where the run rate cannot be one, for a window that starts at the forecast date:
#: the weighted pipeline reads today's open deals, not past wins, so neither a record still
#: filling up nor a level the business left pulls it, and it errs for other reasons than ours
#: (no timing, no deals yet to be created). Measured before adopting it, on the five backtests
#: of issue 11 (0 weeks ahead, the forecasts it changed: those made before any record, where
#: ours stood alone): chosen WAPE 12.2 → 11.9% (no change), 12.4 → 12.5% (seasonal), 15.9 →
#: 15.5% (win rate halves mid-record), 23.3 → 21.9% (halves at the start), 8.0 → 7.6% (the
#: shared CRM data, sealed).
PIPELINE_HEDGE = "weighted_pipeline"
#: Blended with ours (a plain mean) when blends are on.
BLEND_WITH = tuple(naive.NAIVE)
#: Forecasts of the open pipeline alone, without timing: they say what today's deals are worth,
#: not what a window starting weeks from now will bring, so they compete only for a window that
#: starts at the forecast date (a lucky run of past windows would otherwise make the weighted
#: pipeline the forecast of a quarter that starts in three months).
PIPELINE_ONLY = ("weighted_pipeline",)
LABELS = {
    MODEL: "our forecast",
    RECALIBRATED: "our forecast recalibrated on its past errors",
    "weighted_pipeline": "weighted pipeline",
    "stage_km": "per-stage close-time baseline",
    **naive.NAIVE,
}
#: A wide table's columns that are not methods: what happened, and when the window ended.
_FACTS = ("actual", "end")
#: Not methods either: when the window started (where the table has it).
_NOT_METHODS = (*_FACTS, "start")
TABLE_COLUMNS = ("origin", "horizon_weeks", "window", "end", "method", "actual", "forecast")


def blend_name(other: str) -> str:
    return f"{MODEL}+{other}"


def label_of(method: str) -> str:
    if method.startswith(MODEL + "+"):
        other = method.split("+", 1)[1]
        return f"mean of {LABELS[MODEL]} and {LABELS.get(other, other)}"
    return LABELS.get(method, method)


@dataclass(frozen=True)
class Choice:
    """Which forecast to show at one origin and horizon, why, and the range its past errors
    give. `p10_factor` etc. are None where no range could be measured (ours kept: use its own)."""

    method: str
    label: str
    origin: pd.Timestamp
    horizon_weeks: int
    horizon_weeks_used: int | None
    n: int  # past forecasts the methods were compared on
    wape: float | None
    bias: float | None
    model_wape: float | None
    candidates: dict[str, float] = field(default_factory=dict)  # method -> past WAPE
    reason: str = ""
    p10_factor: float | None = None
    p50_factor: float | None = None
    p90_factor: float | None = None
    range_n: int = 0  # past forecasts the factors come from

    @property
    def has_range(self) -> bool:
        return self.p10_factor is not None

    def factors(self) -> dict[str, float]:
        """The range factors (empty where none was measured)."""
        names = ("p10_factor", "p50_factor", "p90_factor")
        values = [getattr(self, k) for k in names]
        return {} if None in values else dict(zip(names, values, strict=True))

    def forecast_from(self, forecasts: Mapping[str, float | None]) -> float | None:
        """The chosen method's point forecast from the methods' forecasts now (a blend is the
        mean of its two parts); None when a part is missing."""
        parts = self.method.split("+") if self.method.startswith(MODEL + "+") else [self.method]
        values = [forecasts.get(p) for p in parts]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            return None
        return float(np.mean([float(v) for v in values if v is not None]))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["origin"] = str(self.origin.date())
        return {k: _plain(v) for k, v in data.items()}


@dataclass(frozen=True)
class ChosenForecast:
    """A forecast as users get it: the chosen method's point forecast and its range."""

    method: str
    label: str
    forecast: float
    p10: float
    p50: float
    p90: float
    range: str  # "empirical" (past errors) | "model" (ours kept, its own range)
    choice: Choice

    def p_target(self, target: float | None, ours: float | None) -> float | None:
        """The chance this forecast reaches `target`: `ours` (the exact P(target) of our own
        distribution) where ours is shown with its own range, else read off this forecast's
        P10/P50/P90 (`p_reach_target`); None without a target or a range."""
        if target is None:
            return None
        if self.method == MODEL and self.range == "model":
            return ours
        return p_reach_target(target, self.p10, self.p50, self.p90)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "label": self.label,
            "forecast": _plain(self.forecast),
            "p10": _plain(self.p10),
            "p50": _plain(self.p50),
            "p90": _plain(self.p90),
            "range": self.range,
            "choice": self.choice.to_dict(),
        }


def choose(
    table: pd.DataFrame,
    origin: object,
    horizon_weeks: int,
    *,
    available: Iterable[str] | None = None,
    blends: bool = True,
    min_past: int = MIN_PAST_FORECASTS,
    no_hedge: str | None = None,
    few: str | None = None,
) -> Choice:
    """The method with the lowest WAPE over the forecasts in `table` whose window ended by
    `origin`, at `horizon_weeks` (or the nearest horizon with `min_past` of them).

    `available`: the methods that have a forecast now (default: every method in the table); a
    method missing now cannot be chosen, nor one of the open pipeline alone (`PIPELINE_ONLY`)
    for a window that starts after `origin`. Rows of the pseudo-method `chosen` are ignored.
    `no_hedge`: why the run rate cannot hedge ours now (`naive.still_filling`,
    `fitted.RecentChange`): before a record, ours is then kept alone.
    `few`: why the record cannot choose, said in place of how few past forecasts it holds
    (a dataset without any record: how to make one).
    """
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidInput(f"forecast table: missing column(s) {', '.join(missing)}")
    at = pd.Timestamp(origin)
    h = int(horizon_weeks)
    past = table[(table["end"] <= at) & (table["method"] != CHOSEN)]
    past = past[np.isfinite(past["forecast"].to_numpy(dtype=float))]
    allowed = set(past["method"]) if available is None else set(available)
    if h > 0:
        allowed -= set(PIPELINE_ONLY)
    used = nearest_horizon(past, h, min_past)
    if used is None:
        n_model = int(((past["horizon_weeks"] == h) & (past["method"] == MODEL)).sum())
        few = few or (
            f"only {n_model} past forecast{'s' if n_model != 1 else ''} {_ahead(h)} had ended "
            f"by {at.date()}, fewer than the {min_past} needed to choose"
            if n_model
            else f"no past forecast {_ahead(h)} had ended by {at.date()} ({min_past} are needed "
            "to choose)"
        )
        if no_hedge is None and _allowed(NAIVE_FIRST, allowed):
            return _unjudged(at, h, None, n_model, _naive_first(few), method=NAIVE_FIRST)
        unhedged = f"; not the run rate: {no_hedge}" if no_hedge else ""
        if blends and _allowed(blend_name(PIPELINE_HEDGE), allowed | {MODEL}):
            return _hedge(at, h, n_model, few + unhedged, PIPELINE_HEDGE)
        return _unjudged(at, h, None, n_model, f"kept {LABELS[MODEL]}: {few}{unhedged}")
    wide = _wide(past[past["horizon_weeks"] == used], blends)
    methods = [m for m in wide.columns if m not in _NOT_METHODS and _allowed(m, allowed)]
    if MODEL not in methods:
        return _unjudged(at, h, used, 0, f"kept {LABELS[MODEL]}: nothing else to compare with")
    rows, candidates = _rivals(wide, methods, min_past, at)
    w_all = recency_weights(rows, at)
    if float((w_all * rows["actual"].to_numpy(dtype=float)).sum()) <= 0:
        return _unjudged(
            at, h, used, len(rows), f"kept {LABELS[MODEL]}: nothing was won in the past windows"
        )
    scores = {m: _wape(rows, m, w_all) for m in candidates}
    # Each rival against ours on the windows both forecast (its lead in WAPE points there).
    lead = {m: _wape(rows, m, w_all, m) - _wape(rows, MODEL, w_all, m) for m in candidates}
    leader = min(candidates, key=lambda m: (lead[m], m != MODEL, m))
    best, noisy = cleared(rows, wide, candidates, lead, w_all, ours=MODEL)
    if best == MODEL and leader != MODEL:
        assert noisy is not None
        on = rows[leader].notna().to_numpy()
        ours = _wape(rows[on], MODEL, w_all[on])
        kept = _unjudged(
            at,
            h,
            used,
            int(on.sum()),
            f"kept {LABELS[MODEL]}: {label_of(leader)} had a lower past error "
            f"({_pc(scores[leader])} vs {_pc(ours)} over {int(on.sum())} "
            f"forecasts {_ahead(used)}, WAPE with recent windows weighing more), but by less "
            f"than its noise: the past forecasts span about {noisy:.0f} separate "
            f"window{'s' if round(noisy) != 1 else ''}",
        )
        # The figures the reason gives, for a script: ours' past error and every
        # candidate's. `wape` stays None: no method was chosen on them (the CLI and the
        # dashboard then show the reason, why ours stands).
        return replace(
            kept,
            model_wape=ours,
            candidates=dict(sorted(scores.items(), key=lambda kv: kv[1])),
        )
    shared = rows[best].notna().to_numpy()
    rows, w = rows[shared], w_all[shared]
    actual = rows["actual"].to_numpy(dtype=float)
    total = float((w * actual).sum())
    ours = _wape(rows, MODEL, w)  # on the windows the chosen one forecast too
    err = rows[best].to_numpy(dtype=float) - actual
    factors = range_factors(_facts_and(wide, best).dropna(), best, min_past, at)
    where = _ahead(used) + (f" (none enough {_ahead(h)})" if used != h else "")
    n = len(rows)
    if best == MODEL:
        reason = (
            f"{LABELS[MODEL]} had the lowest error over the {n} past forecasts {where} whose "
            f"windows ended by {at.date()}: WAPE (recent windows weigh more) {_pc(scores[best])}"
        )
        others = {m: s for m, s in scores.items() if m != MODEL}
        if others:
            runner = min(others, key=lambda m: others[m])
            reason += f" (next: {label_of(runner)}, {_pc(others[runner])})"
    elif best == leader:
        reason = (
            f"{label_of(best)} had the lowest error over the {n} past forecasts {where} whose "
            f"windows ended by {at.date()}: WAPE (recent windows weigh more) {_pc(scores[best])}, "
            f"ours {_pc(ours)}"
        )
    else:
        reason = (
            f"{label_of(best)} beat ours by more than its noise over the {n} past forecasts "
            f"{where} whose windows ended by {at.date()}: WAPE (recent windows weigh more) "
            f"{_pc(scores[best])}, ours {_pc(ours)}; {label_of(leader)} had the lowest "
            f"({_pc(scores[leader])}), but its lead over ours was less than its noise"
        )
    if factors is None:
        reason += "; too few positive past forecasts and actuals for a range"
    return Choice(
        method=best,
        label=label_of(best),
        origin=at,
        horizon_weeks=h,
        horizon_weeks_used=used,
        n=n,
        wape=scores[best],
        bias=float((w * err).sum() / total),
        model_wape=ours,
        candidates=dict(sorted(scores.items(), key=lambda kv: kv[1])),
        reason=reason,
        **(factors or {}),
    )


def empirical_range(
    table: pd.DataFrame,
    origin: object,
    horizon_weeks: int,
    method: str = MODEL,
    *,
    min_past: int = MIN_PAST_FORECASTS,
) -> dict[str, Any] | None:
    """One method's range factors from its past errors (windows ended by `origin`, at the
    horizon or the nearest with enough rows): what recalibrates our own range. None when too
    few."""
    at = pd.Timestamp(origin)
    past = table[(table["end"] <= at) & (table["method"] != CHOSEN)]
    used = nearest_horizon(past, int(horizon_weeks), min_past, method=method.split("+")[0])
    if used is None:
        return None
    wide = _wide(past[past["horizon_weeks"] == used], blends=method.startswith(MODEL + "+"))
    if method not in wide:
        return None
    return range_factors(_facts_and(wide, method).dropna(), method, min_past, at)


def apply_choice(
    choice: Choice,
    forecasts: Mapping[str, float | None],
    model_range: tuple[float, float, float] | None = None,
    total_range: tuple[float, float, float] | None = None,
) -> ChosenForecast:
    """The forecast users get: the chosen method's point forecast now (from `forecasts`, each
    method's forecast at this origin) with its empirical range; ours with its own range
    (`model_range`: P10, P50, P90) wherever it has one. `total_range`: ours' range of the
    total, where this line is a group's (a team's) and `model_range` ours' range of the group:
    the total's past errors then carry the group's own chance too (`group_bounds`).

    Ours keeps its own range even where its past errors give one: the tiles, the team table,
    the CLI's table and P(target) all read ours' own distribution, and a second range for the
    same forecast gave two ranges and two chances on one page (a walkthrough: 36% against 53%).
    The record's coverage of what users saw is then that of ours' own range wherever ours led."""
    point = choice.forecast_from(forecasts)
    if point is None:
        raise InvalidInput(f"forecasts: no {choice.method!r} forecast to apply the choice to")
    if choice.method == MODEL and model_range is not None:
        lo, mid, hi = (float(v) for v in model_range)
        kind = "model"
    elif choice.has_range:
        lo, mid, hi = scaled(point, choice.factors())
        if total_range is not None and scalable(model_range) and scalable(total_range):
            assert model_range is not None
            lo, hi = group_bounds(mid, lo, hi, model_range, total_range)
        kind = "empirical"
    elif choice.wape is None and scalable(model_range):
        # Shown before a record (`NAIVE_FIRST`, `PIPELINE_HEDGE`), no past errors to give it a
        # range: ours' range in proportion to its P50. (A method chosen on too few positive
        # past forecasts for a range has none, and its reason says so.)
        assert model_range is not None
        lo, mid, hi = (point * float(v) / float(model_range[1]) for v in model_range)
        kind = "model"
    else:
        lo = mid = hi = math.nan
        kind = "none"
    return ChosenForecast(choice.method, choice.label, point, lo, mid, hi, kind, choice)


def recalibrated(
    table: pd.DataFrame, origin: object, horizon_weeks: int, model_forecast: float
) -> tuple[float, dict[str, Any]] | None:
    """Ours recalibrated on its past errors (`RECALIBRATED`): its forecast times the median of
    actual / forecast over its earlier forecasts whose windows had ended by `origin`, with the
    factors of that range. None with too few of them."""
    own = empirical_range(table, origin, horizon_weeks)
    if own is None:
        return None
    return recalibrate(model_forecast, own), own


# --- helpers --------------------------------------------------------------------------------------


def nearest_horizon(past: pd.DataFrame, h: int, min_past: int, method: str = MODEL) -> int | None:
    """`h` when it has `min_past` past forecasts of `method`, else the nearest horizon that
    does (the shorter on a tie), else None."""
    counts = past.loc[past["method"] == method, "horizon_weeks"].value_counts()
    enough = sorted(
        (int(k) for k, v in counts.items() if v >= min_past), key=lambda k: (abs(k - h), k)
    )
    return enough[0] if enough else None


def _wide(rows: pd.DataFrame, blends: bool) -> pd.DataFrame:
    """One row per past forecast (origin, window), a column per method and the actual; the
    blends of ours with each naive forecast as columns too."""
    key = ["origin", "window"]
    wide = rows.pivot_table(index=key, columns="method", values="forecast", aggfunc="first")
    wide.columns = [str(c) for c in wide.columns]
    wide["actual"] = rows.groupby(key)["actual"].first()
    wide["end"] = rows.groupby(key)["end"].first()
    if "start" in rows:
        wide["start"] = rows.groupby(key)["start"].first()
    if blends and MODEL in wide:
        for other in BLEND_WITH:
            if other in wide:
                wide[blend_name(other)] = (wide[MODEL] + wide[other]) / 2
    return wide


def _facts_and(wide: pd.DataFrame, method: str) -> pd.DataFrame:
    """The actual, the windows' end (and start, where the table has it) and one method."""
    return wide[[c for c in (*_NOT_METHODS, method) if c in wide.columns]]


def _allowed(method: str, allowed: set[str]) -> bool:
    if method.startswith(MODEL + "+"):
        return all(p in allowed for p in method.split("+"))
    return method in allowed


def _rivals(
    wide: pd.DataFrame, methods: list[str], min_past: int, at: pd.Timestamp
) -> tuple[pd.DataFrame, list[str]]:
    """Ours' past forecasts, and the candidates: ours and every method judged on the same past
    (`SAME_PAST_WEEKS`): one with a forecast for each of ours' windows that ended in that span
    before `at`, and for at least `min_past` of ours' windows in all."""
    ours = wide[MODEL].notna()
    rows = wide.loc[ours]
    ends = pd.to_datetime(rows["end"])
    recent = (ends > at - pd.Timedelta(weeks=SAME_PAST_WEEKS)).to_numpy()
    keep = [MODEL]
    for m in methods:
        if m == MODEL:
            continue
        have = rows[m].notna().to_numpy()
        if have[recent].all() and int(have.sum()) >= min_past:
            keep.append(m)
    return rows[[*_FACTS, *keep]], keep


def _wape(rows: pd.DataFrame, method: str, w: np.ndarray, on: str | None = None) -> float:
    """`method`'s recency-weighted WAPE over the rows where it (and `on`, if given) has a
    forecast."""
    have = rows[method].notna().to_numpy().copy()
    if on is not None:
        have &= rows[on].notna().to_numpy()
    actual = rows["actual"].to_numpy(dtype=float)[have]
    total = float((w[have] * actual).sum())
    if total <= 0:
        return math.inf
    return float(
        (w[have] * np.abs(rows[method].to_numpy(dtype=float)[have] - actual)).sum() / total
    )


def _unjudged(
    at: pd.Timestamp, h: int, used: int | None, n: int, reason: str, method: str = MODEL
) -> Choice:
    """A choice made without comparing past errors: ours kept (or, for `_hedge`, the hedge)."""
    return Choice(
        method=method,
        label=label_of(method),
        origin=at,
        horizon_weeks=h,
        horizon_weeks_used=used,
        n=n,
        wape=None,
        bias=None,
        model_wape=None,
        reason=reason,
    )


def _hedge(at: pd.Timestamp, h: int, n: int, few: str, partner: str = PIPELINE_HEDGE) -> Choice:
    """The choice before the record can make one where the run rate cannot (`PIPELINE_HEDGE`):
    no past error, no range of its own (`apply_choice` scales ours' to it)."""
    reason = (
        f"{few}; until then the mean of ours and the {LABELS.get(partner, partner)} is shown, "
        "a hedge between two forecasts that err for different reasons"
    )
    if partner == PIPELINE_HEDGE:
        reason += " (today's open deals at their stage's win rate, for a window that starts now)"
    return _unjudged(at, h, None, n, reason, method=blend_name(partner))


def _naive_first(few: str) -> str:
    """Why the naive forecast is shown before a record (`NAIVE_FIRST`)."""
    return (
        f"{few}; until ours has beaten the naive forecasts on past windows, the "
        f"{LABELS[NAIVE_FIRST]} is shown (ours beside it)"
    )


def _ahead(h: int) -> str:
    return f"{h} week{'s' if h != 1 else ''} ahead"


def _pc(v: float) -> str:
    return f"{v:.1%}"


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else round(f, 6)  # a figure shown to 0.1% reads as computed
    if isinstance(v, np.integer):
        return int(v)
    return v
