"""The time-to-close model follows the deals that carry the revenue: the few largest deals, which
move slowest, get timing of their own rather than sharing a band with deals a tenth their size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import timing as tm
from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory
from forecast.timing.hazard import _value_quantiles

T = pd.Timestamp


def test_size_bands_also_split_the_value_so_the_largest_deals_have_their_own():
    rng = np.random.default_rng(0)
    amounts = np.concatenate([rng.uniform(100, 1_000, 980), rng.uniform(50_000, 100_000, 20)])
    logs = np.log1p(amounts)
    qs = np.array([0.25, 0.5, 0.75])
    by_count = np.quantile(logs, qs)
    by_value = _value_quantiles(logs, qs)
    # Counted, the top band starts among the small deals; by value, the 2% of deals that hold
    # most of it are split apart from the rest.
    assert by_count[-1] < np.log1p(1_000)
    assert by_value[-1] > np.log1p(50_000)
    top = logs > by_value[-1]
    assert 0.15 < amounts[top].sum() / amounts.sum() < 0.35
    # Amounts all zero: the count quantiles.
    np.testing.assert_array_equal(
        _value_quantiles(np.zeros(10), qs), np.unique(np.quantile(np.zeros(10), qs))
    )


def test_the_largest_deals_are_binned_apart_in_a_fitted_model():
    gen = generate_pipeline(1_500, seed=3, start="2023-01-01", end="2023-12-31")
    history = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    rows = tm.survival_rows(history, T("2023-12-01"), every_days=28)
    model = tm.TimeToClose(n_estimators=20).fit(rows, len(history.stages.open_stages))
    logs = np.log1p(rows["amount"].to_numpy(dtype=float))
    # More bands than the count quartiles alone, and the top one holds a small share of deals.
    assert model.n_sizes_ > 4
    assert (logs > model.size_edges_[-1]).mean() < 0.2
