"""The time-to-close model learns the business as it is now: its training landmarks weigh less
with age, by their date only (never by what happened to the deal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import timing as tm
from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory

T = pd.Timestamp


@pytest.fixture(scope="module")
def history() -> DealHistory:
    gen = generate_pipeline(800, seed=4, start="2023-01-01", end="2023-12-31")
    return DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)


def test_landmarks_weigh_half_as_much_per_half_life_of_age(history):
    until = T("2023-12-01")
    flat = tm.survival_rows(history, until, every_days=28)
    decayed = tm.survival_rows(history, until, every_days=28, half_life_days=91.0)
    assert (flat["weight"] == 1.0).all()
    pd.testing.assert_frame_equal(flat.drop(columns="weight"), decayed.drop(columns="weight"))
    age = (until - decayed["as_of"]) / pd.Timedelta(days=1)
    np.testing.assert_allclose(decayed["weight"], 0.5 ** (age / 91.0))
    # The weight is the landmark's date alone: deals at one landmark weigh the same whatever
    # became of them.
    per_landmark = decayed.groupby("as_of")["weight"].nunique()
    assert (per_landmark == 1).all()
