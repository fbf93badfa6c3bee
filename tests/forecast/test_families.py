"""Logistic regression and naive Bayes as served models: they learn, they explain each field
exactly, they survive a save, and the scoring service serves them like LightGBM."""

from __future__ import annotations

import io
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from forecast import scoring
from forecast.modeling.families import (
    LIGHTGBM,
    LinearClassifier,
    NaiveBayesClassifier,
    family_model,
    family_of,
)
from forecast.modeling.reasons import explain
from forecast.modeling.scorers import select_scorer


def _data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Outcome driven by a source (good > plain > poor) and by size; `noise` means nothing."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["good", "plain", "poor"], n)
    size = rng.normal(0, 1, n)
    size[rng.random(n) < 0.1] = np.nan
    logit = np.select([source == "good", source == "poor"], [1.5, -1.5], 0.0)
    logit = logit + np.nan_to_num(size)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X = pd.DataFrame({"source": source, "size": size, "noise": rng.random(n)})
    X["source"] = X["source"].astype("str")
    return X, y


@pytest.mark.parametrize("family", ["logistic_regression", "naive_bayes"])
def test_each_family_learns_and_ranks_a_better_source_higher(family: str) -> None:
    X, y = _data(3000)
    model = family_model(family).fit(X, y)
    assert family_of(model) == family
    Xt, yt = _data(1000, seed=1)
    assert roc_auc_score(yt, model.predict_proba(Xt)[:, 1]) > 0.75
    row = {"size": 0.0, "noise": 0.5}
    assert model.score_row({**row, "source": "good"}) > model.score_row({**row, "source": "poor"})


@pytest.mark.parametrize("family", ["logistic_regression", "naive_bayes"])
def test_contributions_and_the_bias_add_up_to_the_log_odds_the_probability_comes_from(
    family: str,
) -> None:
    X, y = _data(1500)
    model = family_model(family).fit(X, y)
    matrix = model.encode(X.head(20))
    raw = model.contributions(matrix).sum(axis=1) + model.bias_
    assert np.allclose(model._calibrate(raw), model.predict_proba(X.head(20))[:, 1])
    assert model.contributions(matrix).shape == (20, 3)  # one term per input field


def test_logistic_contributions_are_coef_times_distance_from_the_training_mean() -> None:
    X = pd.DataFrame({"size": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    y = np.array([0, 0, 1, 0, 1, 0, 1, 1.0])
    model = LinearClassifier(C=1e6).fit(X, y)
    (coef,) = model.coef_
    scale = float(np.std(X["size"]))
    # size 7 is (7 − 3.5) / scale above the training mean in scaled units
    contrib = model.contributions(model.encode(pd.DataFrame({"size": [7.0]})))
    assert math.isclose(contrib[0, 0], coef * (7 - 3.5) / scale, rel_tol=1e-9)


def test_naive_bayes_contribution_is_the_fields_log_likelihood_ratio() -> None:
    X = pd.DataFrame({"color": ["red", "red", "red", "blue"]}).astype("str")
    y = np.array([1, 1, 0, 0.0])
    model = NaiveBayesClassifier(alpha=1.0).fit(X, y)
    # 3 values (blank, red, blue); P(red|won) = (2+1)/(2+3), P(red|lost) = (1+1)/(2+3)
    red, blue = model.contributions(model.encode(pd.DataFrame({"color": ["red", "blue"]})))
    assert math.isclose(red[0], math.log(0.6 / 0.4))
    assert math.isclose(blue[0], math.log(0.2 / 0.4))
    assert model.bias_ == 0.0  # as many won as lost


def test_a_value_naive_bayes_never_saw_is_neutral_not_a_push_toward_the_rarer_outcome() -> None:
    # Few converted leads, and no blank in training: a lead that leaves the field out (or
    # sends a value too rare to keep) must not score above one with a known value.
    X = pd.DataFrame({"color": ["red"] * 10 + ["blue"] * 90}).astype("str")
    y = np.array([1.0] * 5 + [0.0] * 5 + [1.0] * 5 + [0.0] * 85)
    model = NaiveBayesClassifier(alpha=1.0).fit(X, y)
    blank = model.contributions(model.encode(pd.DataFrame({"color": [None]})))
    assert blank[0, 0] == 0.0
    p_blank = model.predict_proba(pd.DataFrame({"color": pd.Series([None], dtype="str")}))[0, 1]
    assert p_blank == pytest.approx(model.predict_proba(X)[:, 1].mean(), abs=0.1)


def test_reasons_name_the_users_field_and_value() -> None:
    X, y = _data(2000)
    model = LinearClassifier().fit(X, y)
    model.field_labels_ = {"source": "Lead Source", "size": "Company size", "noise": "Noise"}
    row = pd.DataFrame({"source": ["good"], "size": [0.0], "noise": [0.5]}).astype(
        {"source": "str"}
    )
    [reasons] = explain(model, row, top=1)
    assert reasons["for"][0].sentence == "Lead Source = good: raises the score"


def test_a_saved_model_scores_the_same_after_loading() -> None:
    X, y = _data(800)
    for model in (LinearClassifier().fit(X, y), NaiveBayesClassifier().fit(X, y)):
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        buffer.seek(0)
        loaded = joblib.load(buffer)
        assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_an_unfitted_family_says_so() -> None:
    with pytest.raises(NotFittedError):
        LinearClassifier().predict_proba(pd.DataFrame({"a": [1.0]}))
    assert family_of(object()) == LIGHTGBM  # a model saved before families existed


@pytest.mark.parametrize("family", ["logistic_regression", "naive_bayes"])
def test_the_scoring_service_serves_a_simple_family_with_reasons(family: str) -> None:
    X, y = _data(2000)
    model = family_model(family).fit(X, y)
    model.field_labels_ = {"source": "Lead Source"}
    served = scoring.Served("leads", select_scorer(model), "7", "registry")
    rows = [
        {"source": "good", "size": 1.0, "noise": 0.2},
        {"source": "poor", "size": None, "noise": 0.9},
        {"source": "never seen", "size": "not a number"},
    ]
    scores = scoring.score(served, rows, top=2)
    frame = pd.DataFrame(
        {
            "source": pd.Series([r.get("source") for r in rows], dtype="str"),
            "size": [1.0, np.nan, np.nan],
            "noise": [0.2, 0.9, np.nan],
        }
    )
    assert np.allclose([s.probability for s in scores], model.predict_proba(frame)[:, 1])
    assert [scoring.score(served, [r])[0].probability for r in rows] == pytest.approx(
        [s.probability for s in scores]
    )
    assert scores[0].reasons_for[0]["sentence"] == "Lead Source = good: raises the score"
    assert scores[1].reasons_against[0]["field"] == "Lead Source"
    assert set(scores[0].reasons_for[0]) == {"field", "value", "contribution", "sentence"}
    assert scores[0].grade in "ABCD" and scores[0].method == "model"


def test_logistic_regression_with_nothing_frequent_enough_scores_the_overall_rate() -> None:
    X = pd.DataFrame({"source": [f"s{i}" for i in range(40)]}).astype("str")
    y = np.array([1.0] * 10 + [0.0] * 30)
    model = LinearClassifier(min_frequency=10).fit(X, y)
    assert np.allclose(model.predict_proba(X)[:, 1], 0.25)


def test_logistic_regression_scores_a_number_beyond_training_as_its_edge() -> None:
    X, y = _data(2000)
    model = LinearClassifier().fit(X, y)
    top = float(np.nanmax(X["size"]))
    rows = pd.DataFrame({"source": ["plain"] * 3, "size": [top, top * 10, top * 1000]})
    rows["noise"] = 0.5
    rows["source"] = rows["source"].astype("str")
    p = model.predict_proba(rows)[:, 1]
    assert p[0] == pytest.approx(p[1]) == pytest.approx(p[2])  # not carried on to 1.0
