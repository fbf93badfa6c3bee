"""Baselines: the weighted pipeline, CRM-style naive Bayes, logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forecast.errors import InvalidInput
from forecast.modeling.baselines import (
    FrequencyNaiveBayes,
    LogisticBaseline,
    StageWinRate,
    baselines_for,
)


def test_stage_win_rate_is_the_weighted_share_won_per_stage() -> None:
    X = pd.DataFrame({"stage": ["A", "A", "A", "B", "B"]})
    y = [1, 0, 0, 1, 1]
    w = [2.0, 1.0, 1.0, 1.0, 1.0]
    model = StageWinRate(prior=0.0).fit(X, y, sample_weight=w)
    assert model.rate("A") == pytest.approx(0.5)
    assert model.rate("B") == pytest.approx(1.0)
    p = model.predict_proba(pd.DataFrame({"stage": ["A", "never seen"]}))[:, 1]
    assert p[0] == pytest.approx(0.5)
    assert p[1] == pytest.approx(model.overall_)  # an unknown stage gets the overall rate


def test_naive_bayes_learns_which_values_win_and_ignores_numbers_by_default() -> None:
    X = pd.DataFrame(
        {
            "source": pd.array(["ref"] * 40 + ["ads"] * 40, dtype="str"),
            "visits": np.r_[np.zeros(40), np.ones(40) * 9],
        }
    )
    y = np.r_[np.ones(30), np.zeros(10), np.ones(10), np.zeros(30)]
    nb = FrequencyNaiveBayes().fit(X, y)
    assert nb.columns_ == ["source"]
    p = nb.predict_proba(pd.DataFrame({"source": ["ref", "ads", "new"], "visits": [0, 0, 0]}))
    assert p[0, 1] > 0.6 > 0.4 > p[1, 1]
    assert 0.3 < p[2, 1] < 0.7  # an unseen value says nothing either way


def test_logistic_handles_text_columns_missing_values_and_unseen_categories() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "source": pd.array(rng.choice(["a", "b", None], 300), dtype="str"),
            "x": np.where(rng.uniform(size=300) < 0.1, np.nan, rng.normal(size=300)),
        }
    )
    y = (X["x"].fillna(0) + rng.normal(0, 0.5, 300) > 0).astype(int)
    model = LogisticBaseline().fit(X, y)
    p = model.predict_proba(pd.DataFrame({"source": ["zzz"], "x": [2.0]}))[:, 1]
    assert p[0] > 0.5


def test_baselines_follow_the_estimator_contract() -> None:
    for est in baselines_for("deals").values():
        assert clone(est).get_params() == est.get_params()
    assert set(baselines_for("leads")) == {"naive_bayes", "logistic_regression"}
    with pytest.raises(InvalidInput):
        FrequencyNaiveBayes().fit(pd.DataFrame({"a": ["x", "y"]}), [1, 1])


def test_each_stages_win_rate_is_the_share_won_of_the_deals_met_in_it() -> None:
    """The weighted pipeline's and the fallback's stage rates read every snapshot alike.
    Weighted 1 / a deal's rows, a won deal (longer lived, more rows) weighed less in each
    stage, and the first stage's rate was 12% where 36% of its deals were won."""
    from forecast import features as feat
    from forecast.data.generator import generate_pipeline
    from forecast.history import DealHistory
    from forecast.modeling.baselines import stage_win_rates

    g = generate_pipeline(1500, seed=7)
    history = DealHistory.from_frames(g.opportunities, g.history, g.stages)
    rates = stage_win_rates(history)
    rows = feat.deal_training_rows(history, every_days=14)
    first = g.stages.open_stages[0]
    deals_in_first = rows[rows["stage"] == first].groupby("id")["won"].first().mean()
    assert rates.rate(first) == pytest.approx(
        rows.loc[rows["stage"] == first, "won"].mean(), abs=0.01
    )
    assert abs(rates.rate(first) - deals_in_first) < 0.05, (rates.rate(first), deals_in_first)
