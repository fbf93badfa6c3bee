"""Ranges from past errors: recency weights, conformal bounds of log(actual / forecast), the
factors they give a point forecast, and the chance such a range reaches a target.

**Recent outcomes weigh more.** A past forecast's weight halves with every quarter
(`HALF_LIFE_WEEKS`) between its window's end and the origin: errors (WAPE, bias) and ranges are
weighted, so after a change in the business (a win rate that halves, a new season) the choice and
the ranges follow how methods do now, not how they did a year ago.

**Ranges.** For the method chosen, the spread of log(actual / forecast) over the same past rows
gives multiplicative factors: P10 = forecast × exp(q10), P90 = forecast × exp(q90), P50 likewise.
The quantiles are (recency-weighted, as in Barber et al.'s non-exchangeable conformal
prediction) the order statistics split-conformal prediction uses (the ⌈(n+1)·0.9⌉-th
smallest of n for P90, the ⌊(n+1)·0.1⌋-th for P10), so that with n past errors drawn like the
next one the range holds the actual at least 80% of the time; a plain 10th/90th percentile of 9
points is narrower and holds it about 64% of the time. This gives the naive forecasts a range
they lack and recalibrates ours on its out-of-sample errors.

**The chance to reach a target** (`p_reach_target`). A range from past errors is three
multiplicative factors on the point forecast, so the chosen forecast's P(target) is read off them
in log space: its CDF runs straight through (log P10, 10%), (log P50, 50%), (log P90, 90%) and
beyond them follows a log-normal tail with the spread the range implies. Where ours is the method
users get, its P(target) stays the exact one of its own distribution
(`ChosenForecast.p_target`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

#: Past forecasts weigh half as much for each quarter of age: the business as it is now counts.
HALF_LIFE_WEEKS = 13.0


def recency_weights(rows: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """Each past forecast's weight: halving every `HALF_LIFE_WEEKS` of age at `at` (its window's
    end to the origin asked about), so the last quarter's outcomes weigh as much as all earlier
    ones and a business that changed is judged on how it is now. `rows`: `_wide`'s, with the
    windows' `end`."""
    ends = pd.to_datetime(rows["end"])
    age_weeks = ((at - ends) / pd.Timedelta(weeks=1)).to_numpy(dtype=float)
    return np.power(0.5, np.maximum(age_weeks, 0.0) / HALF_LIFE_WEEKS)


def separate_windows(rows: pd.DataFrame, w: np.ndarray) -> float:
    """How many separate windows past forecasts rest on: the weights' effective size, and at
    most the span of the windows' ends over a window's length (where `rows` has `start`):
    weekly origins forecast nearly the same quarter thirteen weeks running, and forecasts of
    overlapping windows share their outcome, so they are not that many separate errors."""
    windows = float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0
    if "start" in rows and len(rows):
        ends = pd.to_datetime(rows["end"])
        length = (ends - pd.to_datetime(rows["start"])).median()
        if length > pd.Timedelta(0):
            windows = min(windows, float((ends.max() - ends.min()) / length) + 1.0)
    return max(windows, 1.0)


def conformal_bounds(
    values: np.ndarray, weights: np.ndarray | None = None, next_weight: float = 1.0
) -> tuple[float, float, float]:
    """Lower, middle and upper bounds of an 80% central range from n past values: weighted
    split-conformal quantiles (Barber et al. 2023, "Conformal prediction beyond
    exchangeability"): the next value gets weight 1, the past their `weights` (all 1: the
    ⌊(n+1)·0.1⌋-th and ⌈(n+1)·0.9⌉-th smallest), clamped to the extremes; the middle is the
    weighted median."""
    x = np.asarray(values, dtype=float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total = w.sum() + next_weight  # the next value's own weight
    up = np.cumsum(w) / total  # share of the weight at or below each value
    hi = int(np.searchsorted(up, 0.9 - 1e-12))  # first value reaching 90%
    down = np.cumsum(w[::-1])[::-1] / total  # share at or above each value
    reach = np.nonzero(down >= 0.9 - 1e-12)[0]
    lo = int(reach[-1]) if len(reach) else 0  # last value with 90% at or above it
    mid = int(np.searchsorted(np.cumsum(w) / w.sum(), 0.5 - 1e-12))
    return float(x[lo]), float(x[min(mid, len(x) - 1)]), float(x[min(hi, len(x) - 1)])


def range_factors(
    rows: pd.DataFrame, method: str, min_past: int, at: pd.Timestamp
) -> dict[str, Any] | None:
    """Range factors from past log(actual / forecast), over rows where both are positive,
    weighted by recency, and counted by the separate windows they rest on: nine forecasts of
    nearly one quarter, thirteen weekly origins apart, are one window's error, and a range
    read off them as nine (the next forecast weighing 1 against their 9) held the actual in 71%
    of ours' forecasts on generated data and 26% on a walkthrough's export with a change. The
    next forecast weighs as one window does; with nine separate windows or fewer, the range is
    their extremes."""
    actual = rows["actual"].to_numpy(dtype=float)
    fc = rows[method].to_numpy(dtype=float)
    ok = (actual > 0) & (fc > 0)
    if ok.sum() < min_past:
        return None
    w = recency_weights(rows, at)[ok]
    # The next forecast is one separate window: it weighs as much as one of the past's (the
    # rows of one window share its outcome, so they count as one error, not many).
    next_weight = w.sum() / separate_windows(rows[ok], w)
    q10, q50, q90 = conformal_bounds(np.log(actual[ok] / fc[ok]), w, next_weight)
    return {
        "p10_factor": math.exp(q10),
        "p50_factor": math.exp(q50),
        "p90_factor": math.exp(q90),
        "range_n": int(ok.sum()),
    }


def recalibrate(model_forecast: float, factors: Mapping[str, float]) -> float:
    """Ours times the middle of its empirical range (`empirical_range`): its past median
    actual / forecast."""
    return float(model_forecast) * factors["p50_factor"]


def scaled(point: float, factors: Mapping[str, float]) -> tuple[float, float, float]:
    """P10, P50, P90 of a point forecast under range factors (`Choice.factors()` or
    `empirical_range`)."""
    return (
        point * factors["p10_factor"],
        point * factors["p50_factor"],
        point * factors["p90_factor"],
    )


#: The standard normal's 90% quantile: P10 and P90 of a log-normal lie this many sigmas from
#: its median.
Z90 = NormalDist().inv_cdf(0.9)


def p_reach_target(target: float, p10: float, p50: float, p90: float) -> float | None:
    """The chance that revenue reaches `target` (P(X ≥ target)), given only X's P10, P50 and
    P90, as a range from past errors gives them (multiplicative factors on a point forecast).

    In log space the CDF runs straight through (log P10, 0.1), (log P50, 0.5) and (log P90, 0.9);
    beyond P10 and P90 it follows a normal tail of sigma (log P90 − log P10) / (2 · 1.2816), the
    log-normal's the range implies, joined at the bound, so the chance falls smoothly past the
    range instead of stopping at 10% or 90%. A collapsed range (P10 = P90) is a step at P50.
    None where the quantiles cannot give it (missing, not positive, or out of order); a target
    of 0 or less is always reached.
    """
    q = [float(v) if v is not None else math.nan for v in (p10, p50, p90)]
    if not all(math.isfinite(v) and v > 0 for v in q) or not q[0] <= q[1] <= q[2]:
        return None
    if not math.isfinite(float(target)):
        return None
    if target <= 0:
        return 1.0
    y = math.log(float(target))
    lo, mid, hi = (math.log(v) for v in q)
    sigma = (hi - lo) / (2 * Z90)
    if sigma <= 0:  # no spread: the forecast is its P50
        return 1.0 if y <= mid else 0.0
    # P(X < target), so a target at a quantile that others share counts their mass as reached.
    normal = NormalDist()
    if y <= lo:
        below = normal.cdf(-Z90 + (y - lo) / sigma)
    elif y <= mid:  # here mid > lo
        below = 0.1 + 0.4 * (y - lo) / (mid - lo)
    elif y <= hi:  # here hi > mid
        below = 0.5 + 0.4 * (y - mid) / (hi - mid)
    else:
        below = normal.cdf(Z90 + (y - hi) / sigma)
    return 1.0 - below


def group_bounds(
    mid: float,
    lo: float,
    hi: float,
    group: tuple[float, float, float],
    total: tuple[float, float, float],
) -> tuple[float, float]:
    """A group's P10 and P90 under the total's past-error range (P10 `lo`, P50 `mid`, P90
    `hi`). The total's past errors hold the method's own error and the total's chance; a group
    (fewer deals) has more chance of its own, which ours' group range measures. On each side, in
    log terms: the total's width less ours' width of the total (the method's error) plus ours'
    width of the group, added in quadrature (never narrower than either of the two)."""

    if not mid > 0:  # nothing forecast: nothing to spread
        return lo, hi

    def width(bound: float, centre: float) -> float:
        return abs(math.log(bound / centre)) if bound > 0 and centre > 0 else math.inf

    out = []
    for side, sign in ((0, -1.0), (2, 1.0)):
        past = width((lo, mid, hi)[side], mid)
        method = (
            max(0.0, past**2 - width(total[side], total[1]) ** 2)
            if math.isfinite(past)
            else math.inf
        )
        spread = math.sqrt(method + width(group[side], group[1]) ** 2)
        out.append(
            mid * math.exp(sign * spread)
            if math.isfinite(spread)
            else (0.0 if sign < 0 else math.inf)
        )
    return out[0], out[1]


def scalable(model_range: tuple[float, float, float] | None) -> bool:
    return (
        model_range is not None
        and all(math.isfinite(float(v)) for v in model_range)
        and float(model_range[1]) > 0
    )
