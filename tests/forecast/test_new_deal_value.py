"""The value of deals not yet created: a quarter whose creations hold a few large deals by chance
does not swing the forecast with them, while a real change in deal size is followed at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.generator import generate_pipeline
from forecast.features import deal_amounts
from forecast.forecasting.fitted import templates_as_of
from forecast.history import DealHistory

T = pd.Timestamp("2023-12-01")


def _history(change: float = 1.0, lucky: int = 0) -> DealHistory:
    """Generated deals; those created in the last quarter before T have their amounts times
    `change`, and `lucky` of them are made forty times the year's mean."""
    gen = generate_pipeline(1_500, seed=3, start="2023-01-01", end="2023-12-31")
    deals = gen.opportunities.copy()
    recent = (deals["created_at"] >= T - pd.Timedelta(days=91)) & (deals["created_at"] < T)
    deals.loc[recent, "amount"] = deals.loc[recent, "amount"] * change
    if lucky:
        big = 40 * float(deals["amount"].mean())
        deals.loc[deals.index[recent][:lucky], "amount"] = big
    return DealHistory.from_frames(deals, gen.history, gen.stages)


def _values(history: DealHistory) -> tuple[float, float]:
    """The recent creations' mean amount and the mean value the forecast gives them."""
    templates, _ = templates_as_of(history.known_before(T), T, 91)
    assert templates is not None
    return float(deal_amounts(templates).mean()), float(templates["value"].mean())


def test_a_few_large_deals_by_chance_do_not_carry_the_new_deal_value():
    steady_amount, steady_value = _values(_history())
    lucky_amount, lucky_value = _values(_history(lucky=3))
    assert lucky_amount > 1.3 * steady_amount  # three deals lift the quarter's mean by a third
    # The value per new deal is drawn back toward the year's level: most of the lift is noise.
    assert lucky_value < steady_amount + 0.5 * (lucky_amount - steady_amount)


def test_a_real_change_in_deal_size_is_followed():
    steady_amount, _ = _values(_history())
    amount, value = _values(_history(change=2.0))
    assert amount == pytest.approx(2 * steady_amount, rel=0.05)
    assert value > 0.9 * amount  # every deal of the quarter doubled: not noise


def test_a_steady_business_keeps_its_recent_mean_within_its_noise():
    amount, value = _values(_history())
    assert value == pytest.approx(amount, rel=0.15)
    assert np.isfinite(value)
