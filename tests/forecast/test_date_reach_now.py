"""A dataset's own "now" is always within reach: a dormant dataset whose deals were last created
or closed years ago but re-exported today (its newest `updated_at`) answers a waterfall to its
default end, now, rather than a 422 about a `to` the caller never sent."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from forecast.date_reach import check_reach
from forecast.errors import InvalidInput
from forecast.settings import Settings


def dormant() -> SimpleNamespace:
    return SimpleNamespace(end=pd.Timestamp("2017-12-31"), now=lambda: pd.Timestamp("2026-12-02"))


def test_the_datas_now_is_within_reach_and_a_date_past_both_is_not():
    settings = Settings(forecast_horizon_days=730)
    check_reach(dormant(), {"to": "2026-12-02"}, settings)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"to \(2030-01-01\) is after the data's last update"):
        check_reach(dormant(), {"to": "2030-01-01"}, settings)  # type: ignore[arg-type]
