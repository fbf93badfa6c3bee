"""The season of deal creation: how much faster or slower than the recent pace deals will be
created on each day a forecast covers, read from the same days a year earlier.

The new-deal line takes its pace from the last `new_deal_window_days` of creations. In a seasonal
business (a busy autumn, a quiet spring) that pace is wrong for days in another season: a
forecast made in May for the fourth quarter would carry spring's pace into autumn. Where the
record of creations reaches a year and the recent window back, each creation slice (days d to d'
after the as-of date) gets the factor

    (creations per day around [as_of + d − 1 year, as_of + d' − 1 year))
    / (creations per day over the recent window, a year earlier)

counted over at least `SMOOTH_DAYS` around the slice so a week's chance does not swing it. The
year is 364 days (52 weeks), so weekdays line up. Each factor is an estimate from counts, shrunk
towards 1 by its own noise (Poisson counts: the variance of its logarithm is about 1/n₁ + 1/n₂):
log(factor) × max(0, 1 − variance / log(factor)²), so a business without a season, where the
counts differ by chance, keeps its recent pace. Days more than a year ahead keep it too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.forecasting.fitted import Pace

YEAR_DAYS = 364.0
#: The least span of days a slice's pace a year earlier is counted over: a season turns over
#: months, and two months of counts keep a week's chance from swinging it.
SMOOTH_DAYS = 56.0
#: The fewest creations in the recent window a year earlier for any factor to be measured.
MIN_CREATIONS = 20


def creation_pace(created: np.ndarray, as_of: pd.Timestamp, window_days: float) -> Pace:
    """Per creation slice (days from `as_of`, start and end arrays), the factor on the recent
    creation pace that last year's season gives; None where the record is too short."""
    if window_days <= 0 or len(created) == 0:
        return None
    dates = np.asarray(created, dtype="datetime64[us]")
    year = pd.Timedelta(days=YEAR_DAYS)
    recent_from = as_of - pd.Timedelta(days=window_days) - year
    if dates[0] > recent_from.to_datetime64():
        return None  # the record does not reach back a year and a window
    n_recent = _count(dates, recent_from, as_of - year)
    if n_recent < MIN_CREATIONS:
        return None
    recent_rate = n_recent / window_days
    base = as_of - year

    def pace(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        mid = (lo + hi) / 2
        half = np.maximum((hi - lo) / 2, SMOOTH_DAYS / 2)
        factors = np.ones(len(lo))
        for i in range(len(lo)):
            if hi[i] > YEAR_DAYS:
                continue
            a = base + pd.Timedelta(days=float(mid[i] - half[i]))
            b = base + pd.Timedelta(days=float(min(mid[i] + half[i], YEAR_DAYS)))
            days = (b - a) / pd.Timedelta(days=1)
            n = _count(dates, a, b)
            if n == 0 or days <= 0:
                continue
            log_factor = float(np.log((n / days) / recent_rate))
            noise = 1.0 / n + 1.0 / n_recent
            if log_factor:
                factors[i] = float(np.exp(log_factor * max(0.0, 1.0 - noise / log_factor**2)))
        return factors

    return pace


def _count(dates: np.ndarray, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    a = np.searchsorted(dates, lo.to_datetime64(), side="left")
    b = np.searchsorted(dates, hi.to_datetime64(), side="left")
    return int(b - a)
