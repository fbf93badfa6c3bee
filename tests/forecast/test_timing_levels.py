"""The time-to-close model follows the deals that carry the revenue and the business as it is now:
the few largest deals, which move slowest, get timing of their own rather than sharing a band
with deals a tenth their size, and a level the last quarter shows beyond its noise is taken up
at once rather than as years of older history fade."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import timing as tm
from forecast.data.generator import generate_pipeline
from forecast.forecasting.fitted import templates_as_of
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


def _recent_templates(history: DealHistory, t: pd.Timestamp) -> tuple[pd.DataFrame, float]:
    """Deals created in the 91 days before t as known just after creation, and the share of
    them that went on to be won (read from the full record)."""
    known = history.known_before(t)
    templates, _ = templates_as_of(known, t, 91)
    assert templates is not None
    status = templates["id"].map(history.deals.set_index("id")["status"])
    return templates, float((status == "won").mean())


def _fit(history: DealHistory, t: pd.Timestamp, recent_days: float) -> tm.TimeToClose:
    rows = tm.survival_rows(history.known_before(t), t, every_days=28, half_life_days=182.0)
    model = tm.TimeToClose(random_state=1, recent_days=recent_days)
    return model.fit(rows, len(history.stages.open_stages))


def test_a_business_that_changed_is_followed_within_a_quarter():
    """Deals created from 2024 on are won half as often. Six months on, a year of older history
    still holds the model up; the level of the last quarter's rows brings it down to what the
    new deals win."""
    gen = generate_pipeline(
        4_000, seed=9, start="2023-01-01", end="2024-12-31", win_rate_change=("2024-01-01", 0.5)
    )
    history = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    t = T("2024-07-01")
    templates, observed = _recent_templates(history, t)
    held = _fit(history, t, recent_days=0.0)
    followed = _fit(history, t, recent_days=91.0)
    assert held.recent_shift_ == {"close": 0.0, "won": 0.0}
    assert followed.recent_shift_["won"] < 0
    p_held = float(held.cumulative(templates, [364])["won"][:, 0].mean())
    p_followed = float(followed.cumulative(templates, [364])["won"][:, 0].mean())
    assert abs(p_followed - observed) < 0.5 * abs(p_held - observed)


def test_a_steady_business_keeps_its_model():
    gen = generate_pipeline(4_000, seed=11, start="2023-01-01", end="2024-12-31")
    history = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    t = T("2024-10-01")
    templates, _ = _recent_templates(history, t)
    held = _fit(history, t, recent_days=0.0)
    followed = _fit(history, t, recent_days=91.0)
    assert all(abs(v) < 0.05 for v in followed.recent_shift_.values())
    p_held = held.cumulative(templates, [364])["won"][:, 0]
    p_followed = followed.cumulative(templates, [364])["won"][:, 0]
    assert abs(p_followed.mean() - p_held.mean()) < 0.01
