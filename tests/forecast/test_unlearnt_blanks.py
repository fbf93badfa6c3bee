"""A deal's input the model never saw blank in training, scored blank: its part of the score is
left neutral (an average training deal's), it is no reason for or against, and the notes say
so. A blank the model did learn from scores as the model learnt it. A higher past win rate never
lowers a boosted model's score."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.modeling import unlearnt_blanks
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.families import LOGISTIC, family_model
from forecast.modeling.scorers import select_scorer

PIPELINES = ("Default Pipeline", "Renewals Pipeline")


def _deals(n: int = 2000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Deals whose pipeline is always given (renewals win far more often) and whose amount is
    blank on a fifth of them."""
    rng = np.random.default_rng(seed)
    renewal = rng.random(n) < 0.3
    amount = np.round(np.exp(rng.normal(9, 0.7, n)), -1)
    amount[rng.random(n) < 0.2] = np.nan
    rate = rng.uniform(0.2, 0.6, n)
    logit = -0.8 + 2.0 * renewal + 3.0 * (rate - 0.4) + rng.normal(0, 0.3, n)
    won = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X = pd.DataFrame(
        {
            "Deal pipeline": np.where(renewal, PIPELINES[1], PIPELINES[0]),
            "amount": amount,
            "rep_win_rate": rate,
        }
    )
    return X, won


def _served(family: str) -> scoring.Served:
    X, y = _deals()
    if family == "lightgbm":
        model = BoostedClassifier(n_estimators=80, n_jobs=1, random_state=0).fit(X, y)
    else:
        model = family_model(family).fit(X, y)
    model.field_labels_ = {"rep_win_rate": "Rep's past win rate", "amount": "Amount"}
    unlearnt_blanks.remember(model, X)
    return scoring.Served(scoring.DEAL, select_scorer(model), "1", "registry")


@pytest.fixture(scope="module", params=["lightgbm", LOGISTIC])
def served(request) -> scoring.Served:
    return _served(request.param)


ROW: dict[str, Any] = {"amount": 8000.0, "rep_win_rate": 0.4}


def test_a_blank_never_learnt_is_said_and_is_no_reason(served):
    [scored] = scoring.score(served, [ROW], top=5)
    fields = [r["field"] for r in scored.reasons_for + scored.reasons_against]
    assert "Deal pipeline" not in fields
    [note] = [n for n in scored.notes if n.startswith("Deal pipeline")]
    assert "Deal pipeline was not given" in note
    assert "never learnt from a deal without it" in note and "neutral" in note


def test_a_blank_never_learnt_scores_between_the_values_learnt(served):
    [blank] = scoring.score(served, [ROW])
    default, renewal = (
        scoring.score(served, [{**ROW, "Deal pipeline": p}])[0].probability for p in PIPELINES
    )
    assert default < blank.probability < renewal


def test_a_value_never_learnt_is_neutral_and_said_with_the_value(served):
    [scored] = scoring.score(served, [{**ROW, "Deal pipeline": "Partner Pipeline"}], top=5)
    assert any("'Partner Pipeline' is not a value the model can read" in n for n in scored.notes)
    [blank] = scoring.score(served, [ROW])
    assert scored.probability == pytest.approx(blank.probability)


def test_a_blank_learnt_in_training_scores_as_the_model_learnt_it(served):
    row = {"Deal pipeline": PIPELINES[0], "amount": None, "rep_win_rate": 0.4}
    [scored] = scoring.score(served, [row], top=5)
    assert not scored.notes
    model = served.scorer.model
    expected = model.predict_proba(pd.DataFrame([row]).astype({"amount": float}))[0, 1]
    assert scored.probability == pytest.approx(expected, abs=1e-9)


def test_a_batch_says_and_scores_each_row_as_alone(served):
    rows: list[dict[str, Any]] = [ROW, {**ROW, "Deal pipeline": PIPELINES[1]}] * 10
    batch = scoring.score(served, rows, top=3)
    for row, in_batch in zip(rows[:2], batch[:2], strict=True):
        [alone] = scoring.score(served, [row], top=3)
        assert alone.probability == pytest.approx(in_batch.probability, abs=1e-12)
        assert alone.notes == in_batch.notes
    assert not batch[1].notes


def test_a_score_without_reasons_is_the_same_score(served):
    [with_reasons] = scoring.score(served, [ROW], top=3)
    [without] = scoring.score(served, [ROW], top=0)
    assert without.probability == pytest.approx(with_reasons.probability, abs=1e-12)


def test_a_higher_past_win_rate_never_lowers_a_boosted_score():
    # The rate's link to winning bends back down past the middle: unconstrained, the trees
    # learn that a higher rate loses; constrained, a rise never lowers the score.
    rng = np.random.default_rng(11)
    n = 3000
    rate = rng.uniform(0.1, 0.9, n)
    other = rng.normal(0, 1, n)
    logit = 3.0 * np.sin(rate * np.pi * 1.6) - 1.5 + other
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X = pd.DataFrame({"rep_win_rate": rate, "other": other})
    grid = pd.DataFrame({"rep_win_rate": np.linspace(0.1, 0.9, 81), "other": 0.0})

    def raw(rising: tuple[str, ...]) -> np.ndarray:
        model = BoostedClassifier(
            n_estimators=200, n_jobs=1, random_state=0, monotone_increasing=rising
        ).fit(X, y)
        return model.decision_function(grid)

    assert (np.diff(raw(())) < -1e-9).any()  # the data alone would lower it
    assert (np.diff(raw(("rep_win_rate",))) >= -1e-12).all()
