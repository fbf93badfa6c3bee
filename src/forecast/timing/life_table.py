"""Where the time-to-close model's boosters start: the life table, and a slope on the amount.

The boosters of `hazard.TimeToClose` learn each part (the close hazard, the won share) as an
offset plus trees, and stop early on held-out deals. From one pooled rate, early stopping
shrinks the time table toward a flat hazard: on a flat export (timing rests on a deal's age
alone) ten trees were kept, and a deal created today got a 6% chance to close within a week
where the per-stage Kaplan–Meier and the outcomes said under 1%, so deals not yet created were
forecast to be won too soon (+12–23% a quarter, twice the truth a month). Starting from the
life table (the rate per segment and age bin, shrunk toward its age bin's rate and that toward
the pooled rate), the trees learn the deviations from it and early stopping shrinks toward it.

Trees also shrink the size effect to nothing in the few largest deals, which carry much of the
revenue: a ridge-penalised logistic slope on log(1 + amount), fitted with the table as offset,
carries it beyond the size bands.
"""

from __future__ import annotations

import numpy as np

from forecast.timing.logistic import expit

#: Pseudo-rows that shrink a life-table cell toward its age bin's rate (`life_table`).
LIFE_TABLE_PRIOR = 20.0
#: Ridge on the amount slope (in the units of the summed row weights).
AMOUNT_SLOPE_RIDGE = 5.0


def centred_log_amount(raw: np.ndarray, center: float) -> np.ndarray:
    """log(1 + amount) − center, 0 where the amount is unknown."""
    known = np.isfinite(raw)
    return np.where(known, np.log1p(np.nan_to_num(raw).clip(0)) - center, 0.0)


def life_table(
    shape: tuple[int, ...], cell: np.ndarray, y: np.ndarray, w: np.ndarray, base: float
) -> np.ndarray:
    """Logit per time-table cell (`shape`: stage, size band, age bin, days-in-stage bin, week)
    of the rate per (segment, age bin), shrunk by `LIFE_TABLE_PRIOR` pseudo-rows toward the
    rate of its age bin over all segments, itself shrunk toward the pooled rate (`base`, a
    logit); the same across days in stage and week of the quarter."""
    stage, band, age = np.unravel_index(cell, shape)[:3]
    segment = stage * shape[1] + band
    bins, segments = shape[2], shape[0] * shape[1]
    m, p0 = LIFE_TABLE_PRIOR, float(expit(np.array(base)))
    by_age = (np.bincount(age, weights=w * y, minlength=bins) + m * p0) / (
        np.bincount(age, weights=w, minlength=bins) + m
    )
    key = segment * bins + age
    events = np.bincount(key, weights=w * y, minlength=segments * bins).reshape(segments, bins)
    rows = np.bincount(key, weights=w, minlength=segments * bins).reshape(segments, bins)
    rate = np.clip((events + m * by_age) / (rows + m), 1e-5, 1 - 1e-5)
    logit = np.log(rate / (1 - rate)).reshape(shape[0], shape[1], bins, 1, 1)
    return np.ascontiguousarray(np.broadcast_to(logit, shape)).reshape(-1)


def amount_slope(
    columns: list[str], offset: np.ndarray, static_X: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[float, int, float] | None:
    """A ridge-penalised logistic slope on log(1 + amount) with `offset` (the table's logit of
    each row), by Newton's method: (slope, the amount's column, its centre); None without an
    amount."""
    if "amount" not in columns or len(y) == 0:
        return None
    j = columns.index("amount")
    raw = static_X[:, j]
    known = np.isfinite(raw)
    if not known.any():
        return None
    center = float(np.average(np.log1p(raw[known].clip(0)), weights=w[known]))
    x = centred_log_amount(raw, center)
    slope = 0.0
    for _ in range(25):
        p = expit(offset + slope * x)
        grad = float((w * (p - y) * x).sum()) + AMOUNT_SLOPE_RIDGE * slope
        info = float((w * p * (1 - p) * x * x).sum()) + AMOUNT_SLOPE_RIDGE
        step = grad / info
        slope -= step
        if abs(step) < 1e-9:
            break
    return slope, j, center
