"""A forecast's and the at-risk list's dates obey the same reach as every other date
(`forecast.date_reach.check_reach`): at most the horizon past the data's end, or the data's
own "now" where later, so a dormant dataset re-exported later is forecast as of its now rather
than refused a date the caller never sent; a date past both is refused, named."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.generator import generate_pipeline
from forecast.errors import InvalidInput
from forecast.forecasting.fitted import fit_forecast_models
from forecast.forecasting.revenue import forecast_revenue
from forecast.history import DealHistory
from forecast.risk import deals_at_risk
from forecast.settings import Settings

#: The generated deals end on 2023-12-31: 30 days reach 2024-01-30.
SETTINGS = Settings(timing_min_closed_deals=10, forecast_horizon_days=30)
#: The dormant dataset's last update, months past that reach (its "now" is the day after).
LAST_UPDATE = pd.Timestamp("2024-06-30")


@pytest.fixture(scope="module")
def dormant() -> DealHistory:
    """Deals created and closed in 2023, one of them updated in mid-2024 (a re-export)."""
    gen = generate_pipeline(400, seed=7, start="2023-01-01", end="2023-12-31")
    deals = gen.opportunities.copy()
    deals.loc[deals.index[0], "updated_at"] = LAST_UPDATE
    return DealHistory.from_frames(deals, gen.history, gen.stages)


def test_a_dormant_datasets_forecast_as_of_its_now_is_answered(dormant):
    assert dormant.end < pd.Timestamp("2024-01-01") < dormant.now() == pd.Timestamp("2024-07-01")
    models = fit_forecast_models(dormant, pd.Timestamp("2023-10-01"), settings=SETTINGS)
    forecast = forecast_revenue(dormant, "2024-Q3", models=models, settings=SETTINGS)
    assert forecast.as_of == pd.Timestamp("2024-07-01")


def test_a_dormant_datasets_deals_at_risk_as_of_its_now_are_listed(dormant):
    report = deals_at_risk(dormant, settings=SETTINGS)
    assert report.as_of == pd.Timestamp("2024-07-01")


def test_a_forecast_past_the_datas_now_is_refused_naming_as_of_and_the_data_end(dormant):
    with pytest.raises(
        InvalidInput,
        match=r"as_of \(2025-01-01\) is after the data's last update \(2024-07-01\); "
        r"pick a nearer date \(FORECAST_FORECAST_HORIZON_DAYS sets the limit\)",
    ):
        forecast_revenue(dormant, "2025-Q1", as_of="2025-01-01", settings=SETTINGS)
    with pytest.raises(InvalidInput, match=r"period 2026-Q1 \(2026-01-01\) is after the data's"):
        forecast_revenue(dormant, "2026-Q1", as_of="2024-05-01", settings=SETTINGS)
    with pytest.raises(InvalidInput, match=r"as_of \(2025-01-01\) is after the data's last"):
        deals_at_risk(dormant, as_of="2025-01-01", settings=SETTINGS)
