"""The new-deal pace follows the season: each day a forecast covers gets the recent pace scaled by
how creation then, a year earlier, compared with the recent window a year earlier; a business
without a season keeps its recent pace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.forecasting.seasonality import creation_pace

T = pd.Timestamp
AS_OF = T("2024-06-03")


def _daily(rate_of_day) -> np.ndarray:
    """Creation dates: `rate_of_day(day)` deals on each day from 2023 to the as-of date."""
    days = pd.date_range("2023-01-01", AS_OF - pd.Timedelta(days=1), freq="D")
    return np.repeat(days.to_numpy("datetime64[us]"), [rate_of_day(d) for d in days])


def test_busier_days_ahead_get_last_years_ratio_to_the_recent_pace():
    # Twice as many deals a day from September to December, every year.
    created = _daily(lambda d: 8 if d.month >= 9 else 4)
    pace = creation_pace(created, AS_OF, 90.0)
    assert pace is not None
    # Days 0-7 ahead (June): as busy as the spring window; days 120-127 (October): twice.
    june, october = pace(np.array([0.0, 120.0]), np.array([7.0, 127.0]))
    assert june == pytest.approx(1.0, abs=0.02)
    assert october == pytest.approx(2.0, rel=0.02)
    # More than a year ahead, nothing is known of the season: the recent pace.
    assert pace(np.array([370.0]), np.array([377.0]))[0] == 1.0


def test_no_season_keeps_the_recent_pace_and_a_short_record_says_nothing():
    rng = np.random.default_rng(1)
    created = _daily(lambda d: int(rng.poisson(4)))
    pace = creation_pace(created, AS_OF, 90.0)
    assert pace is not None
    starts = np.arange(0.0, 182.0, 7.0)
    factors = pace(starts, starts + 7.0)
    assert np.all(np.abs(factors - 1.0) < 0.15)  # chance differences, shrunk towards 1
    young = created[created >= np.datetime64("2023-09-01")]
    assert creation_pace(young, AS_OF, 90.0) is None  # not a year and a window back


def test_in_a_records_second_year_the_part_of_last_years_window_it_covers_gives_the_season():
    # Twice as many deals a day from September to December; the record starts on 2023-04-01,
    # two months before the as-of date a year back (2023-06-05): the 90-day window then is
    # covered for 65 days, which stand for it.
    created = _daily(lambda d: 8 if d.month >= 9 else 4)
    second_year = created[created >= np.datetime64("2023-04-01")]
    pace = creation_pace(second_year, AS_OF, 90.0)
    assert pace is not None
    june, october = pace(np.array([0.0, 120.0]), np.array([7.0, 127.0]))
    assert june == pytest.approx(1.0, abs=0.02)
    assert october == pytest.approx(2.0, rel=0.02)
    # Less than eight weeks of that window on record: too little to say, the recent pace.
    late = created[created >= np.datetime64("2023-04-15")]
    assert creation_pace(late, AS_OF, 90.0) is None
