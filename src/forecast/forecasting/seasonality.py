"""The season of deal creation: how much faster or slower than the recent pace deals will be
created on each day a forecast covers, read from the same days a year earlier.

The new-deal line takes its pace from the last `new_deal_window_days` of creations. In a seasonal
business (a busy autumn, a quiet spring) that pace is wrong for days in another season: a
forecast made in May for the fourth quarter would carry spring's pace into autumn. Where the
record of creations reaches a year and the recent window back (or, in its second year, a year and
`SMOOTH_DAYS` of that window: the part it covers stands for it), each creation slice (days d to d'
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

from collections.abc import Callable

import numpy as np
import pandas as pd

#: Per creation slice (days from the as-of date: start and end arrays), how many times the recent
#: pace deals are created at then; None: the recent pace throughout.
Pace = Callable[[np.ndarray, np.ndarray], np.ndarray] | None

YEAR_DAYS = 364.0
#: The least span of days a slice's pace a year earlier is counted over: a season turns over
#: months, and two months of counts keep a week's chance from swinging it.
SMOOTH_DAYS = 56.0
#: The fewest creations in the recent window a year earlier for any factor to be measured.
MIN_CREATIONS = 20


def creation_pace(created: np.ndarray, as_of: pd.Timestamp, window_days: float) -> Pace:
    """Per creation slice (days from `as_of`, start and end arrays), the factor on the recent
    creation pace that last year's season gives; None where the record is too short.
    `created`: the creation dates known at `as_of`, sorted."""
    if window_days <= 0 or len(created) == 0:
        return None
    dates = np.asarray(created, dtype="datetime64[us]")
    base = (as_of - pd.Timedelta(days=YEAR_DAYS)).to_datetime64()
    # The recent window a year earlier, as far as the record covers it: in a record's second
    # year its first days stand for the whole window (creations, unlike wins, are all there
    # from the record's first day), so a business in its second year gets its season.
    recent_from = max(base - np.timedelta64(int(window_days * 86_400e6), "us"), dates[0])
    covered = (base - recent_from) / np.timedelta64(1, "D")
    if covered < min(SMOOTH_DAYS, window_days):
        return None  # the record does not reach back a year and enough of a window
    n_recent = int(np.searchsorted(dates, base) - np.searchsorted(dates, recent_from))
    if n_recent < MIN_CREATIONS:
        return None
    recent_rate = n_recent / covered

    def pace(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        mid = (lo + hi) / 2
        half = np.maximum((hi - lo) / 2, SMOOTH_DAYS / 2)
        a_days = mid - half
        b_days = np.minimum(mid + half, YEAR_DAYS)
        a = base + (a_days * 86_400e6).astype("timedelta64[us]")
        b = base + (b_days * 86_400e6).astype("timedelta64[us]")
        n = np.searchsorted(dates, b) - np.searchsorted(dates, a)
        days = b_days - a_days
        known = (hi <= YEAR_DAYS) & (n > 0) & (days > 0)
        factors = np.ones(len(lo))
        log_factor = np.log(n[known] / days[known] / recent_rate)
        noise = 1.0 / n[known] + 1.0 / n_recent
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.where(log_factor != 0, np.maximum(0.0, 1.0 - noise / log_factor**2), 0.0)
        factors[known] = np.exp(log_factor * keep)
        return factors

    return pace
