"""Deals an export leaves without a creation date (prospects dated at the export) are left out
of the new-deal pace: dated at the export, they would read as a burst of creations."""

from __future__ import annotations

import pandas as pd

from forecast.data.generator import generate_pipeline
from forecast.forecasting.fitted import fit_forecast_models
from forecast.history import DealHistory
from forecast.settings import Settings

T = pd.Timestamp


def test_deals_without_a_creation_date_are_left_out_of_the_pace_and_said_so():
    gen = generate_pipeline(600, seed=2, start="2023-01-01", end="2023-12-31")
    opps = gen.opportunities.copy()
    undated = opps.index[opps["status"] == "open"][:40]
    # As an export leaves prospects undated: dated at the export, flagged as estimated.
    opps.loc[undated, "created_at"] = T("2023-12-31")
    opps.loc[undated, "created_estimated"] = True
    history = DealHistory.from_frames(opps, gen.history, gen.stages, check_leaks=False)
    models = fit_forecast_models(
        history, T("2024-01-01"), settings=Settings(timing_min_closed_deals=10)
    )
    assert models.templates is not None
    assert not set(opps.loc[undated, "id"]) & set(models.templates["id"])
    assert any("40 deals without a creation date" in n for n in models.notes)
