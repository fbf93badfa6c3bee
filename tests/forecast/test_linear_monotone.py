"""A higher past win rate never lowers a logistic regression's score, as it never lowers a boosted
one: where the data alone would give a win rate a negative weight (a confounded input carries
its effect and a little more), the logistic family leaves the rate out of its score rather than
read it backwards, says so when it trains, and never gives it as a reason against. Where the
data gives it a positive weight, the model is exactly the one fitted without the constraint."""

from __future__ import annotations

import io
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest

from forecast import features as feat
from forecast.modeling.families import LOGISTIC, LinearClassifier, family_model
from forecast.modeling.fitting import fit_families
from forecast.modeling.reasons import explain

RATES = feat.PAST_WIN_RATES


def _confounded(n: int = 3000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """The rep's win rate rises with winning (correlation ~0.5), but `size`, which tracks the
    same deal quality, carries all of it and more: given `size`, a higher rate wins less."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(0, 1, n)
    rate = np.clip(0.5 + 0.15 * quality + rng.normal(0, 0.03, n), 0.02, 0.98)
    size = quality + rng.normal(0, 0.3, n)
    logit = 2.0 * size - 4.0 * (rate - 0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    region = rng.choice(["East", "West"], n)
    X = pd.DataFrame({"rep_win_rate": rate, "size": size, "region": region})
    return X, y


def _ordinary(n: int = 3000, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """Both past win rates raise the odds of winning, as they usually do."""
    rng = np.random.default_rng(seed)
    rep = rng.uniform(0.1, 0.9, n)
    account = rng.uniform(0.1, 0.9, n)
    size = rng.normal(0, 1, n)
    logit = 2.0 * (rep - 0.5) + 1.0 * (account - 0.5) + 0.8 * size
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    region = rng.choice(["East", "West", "North"], n)
    X = pd.DataFrame({"rep_win_rate": rep, "account_win_rate": account, "size": size})
    X["region"] = region
    return X, y


def _weight(model: LinearClassifier, column: str) -> float:
    """The coefficient on a number's scaled value (scaling keeps its direction)."""
    j = model.encoder_.columns.index(column)
    [k] = [k for k, (f, what, _) in enumerate(model.plan_) if f == j and what == "number"]
    return float(model.coef_[k])


def test_the_plain_fit_reads_the_confounded_rate_backwards() -> None:
    # The setup the guarantee is for: without it, a better record scores lower.
    X, y = _confounded()
    assert np.corrcoef(X["rep_win_rate"], y)[0, 1] > 0.3
    assert _weight(LinearClassifier().fit(X, y), "rep_win_rate") < -0.2


def test_with_the_constraint_the_rate_weighs_nothing_and_the_rest_is_refitted() -> None:
    X, y = _confounded()
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    assert _weight(model, "rep_win_rate") == 0.0
    assert model.held_at_zero_ == ("rep_win_rate",)
    # The other inputs are fitted without it: size takes the rate's place (about 2 - 4 * 0.15).
    assert 1.0 < _weight(model, "size") < 2.5
    assert _weight(model, "size") != _weight(LinearClassifier().fit(X, y), "size")


def test_a_higher_rate_never_lowers_the_score_with_the_other_inputs_fixed() -> None:
    X, y = _confounded()
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    for size, region in [(-1.5, "East"), (0.0, "West"), (2.0, "East")]:
        grid = pd.DataFrame({"rep_win_rate": np.linspace(0.0, 1.0, 101), "size": size})
        grid["region"] = region
        p = model.predict_proba(grid)[:, 1]
        assert (np.diff(p) >= 0).all()
        rows = [{"rep_win_rate": r, "size": size, "region": region} for r in (0.2, 0.5, 0.8)]
        scored = [model.score_row(row) for row in rows]
        assert scored == sorted(scored)


def test_the_rate_is_never_a_reason_against_and_adds_nothing_when_left_out() -> None:
    X, y = _confounded()
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    j = model.encoder_.columns.index("rep_win_rate")
    contributions = model.contributions(model.encode(X))
    assert np.abs(contributions[:, j]).max() == 0.0
    said = explain(model, X.head(300), top=3)
    fields = {r.field for row in said for r in row["for"] + row["against"]}
    assert "rep_win_rate" not in fields and "size" in fields
    # Unconstrained, the same rows heard a high rate lower their score.
    plain = explain(LinearClassifier().fit(X, y), X.head(300), top=3)
    against = [r for row in plain for r in row["against"] if r.field == "rep_win_rate"]
    assert any(float(r.value) > 0.6 for r in against)  # type: ignore[arg-type]


def test_a_second_rate_read_backwards_once_the_first_is_left_out_is_left_out_too() -> None:
    # The account's rate tracks the rep's: with the rep's rate in, the account's is positive;
    # with it out, the account's takes the rep's negative part. Both end at zero.
    rng = np.random.default_rng(8)
    n = 4000
    quality = rng.normal(0, 1, n)
    rep = 0.5 + 0.15 * quality + rng.normal(0, 0.03, n)
    account = rep + rng.normal(0, 0.04, n)
    size = quality + rng.normal(0, 0.3, n)
    logit = 2.0 * size - 8.0 * (rep - 0.5) + 3.0 * (account - 0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X = pd.DataFrame({"rep_win_rate": rep, "account_win_rate": account, "size": size})
    plain = LinearClassifier().fit(X, y)
    assert _weight(plain, "rep_win_rate") < 0 < _weight(plain, "account_win_rate")
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    assert _weight(model, "rep_win_rate") == 0.0 and _weight(model, "account_win_rate") == 0.0
    assert set(model.held_at_zero_) == {"rep_win_rate", "account_win_rate"}
    assert _weight(model, "size") > 1.0


def test_where_the_rates_already_raise_the_score_the_model_is_unchanged() -> None:
    X, y = _ordinary()
    plain = LinearClassifier().fit(X, y)
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    assert _weight(model, "rep_win_rate") > 0.3 and _weight(model, "account_win_rate") > 0.1
    assert model.held_at_zero_ == ()
    np.testing.assert_allclose(model.coef_, plain.coef_, rtol=0, atol=1e-9)
    assert model.bias_ == pytest.approx(plain.bias_, abs=1e-9)
    np.testing.assert_allclose(model.predict_proba(X), plain.predict_proba(X), rtol=0, atol=1e-9)


def test_a_rate_left_out_can_only_be_a_number_the_model_reads() -> None:
    # A blank rate's flag is no rise of the rate: it is left as learnt.
    X, y = _confounded()
    X.loc[X.index[::7], "rep_win_rate"] = np.nan
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    assert _weight(model, "rep_win_rate") >= 0.0
    grid = pd.DataFrame({"rep_win_rate": np.linspace(0.0, 1.0, 51), "size": 0.3})
    grid["region"] = "West"
    assert (np.diff(model.predict_proba(grid)[:, 1]) >= 0).all()


def test_the_constrained_model_scores_the_same_after_a_save() -> None:
    X, y = _confounded()
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)  # the registry's artifact format
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert loaded.get_params()["monotone_increasing"] == RATES
    assert loaded.held_at_zero_ == ("rep_win_rate",)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_logistic_model_saved_before_the_constraint_scores_as_before() -> None:
    X, y = _ordinary()
    model = LinearClassifier().fit(X, y)
    before = model.predict_proba(X)
    del model.__dict__["monotone_increasing"], model.__dict__["held_at_zero_"]
    assert model.monotone_increasing == () and model.held_at_zero_ == ()
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_family_model_gives_the_logistic_family_the_constraint() -> None:
    assert family_model(LOGISTIC, monotone_increasing=RATES).monotone_increasing == RATES
    assert family_model(LOGISTIC).monotone_increasing == ()


def test_training_the_families_says_which_rate_the_logistic_regression_left_out() -> None:
    X, y = _confounded()
    warnings: list[str] = []
    labels = {"rep_win_rate": "Rep's past win rate"}
    boosted = SimpleNamespace()  # stands for the fitted LightGBM
    fitted = fit_families(boosted, X, y, None, labels, warnings, monotone_increasing=RATES)
    assert _weight(fitted[LOGISTIC], "rep_win_rate") == 0.0
    [said] = [w for w in warnings if w.startswith("logistic regression")]
    assert "Rep's past win rate" in said and "left out" in said


def test_a_rate_read_backwards_alone_leaves_the_overall_rate() -> None:
    # With nothing else to read, the score is the training deals' win rate for every deal.
    rng = np.random.default_rng(2)
    rate = rng.uniform(0.1, 0.9, 2000)
    y = (rng.random(2000) < 0.9 - 0.8 * rate).astype(float)
    X = pd.DataFrame({"rep_win_rate": rate})
    model = LinearClassifier(monotone_increasing=RATES).fit(X, y)
    assert model.held_at_zero_ == ("rep_win_rate",)
    p = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(p, y.mean(), rtol=0, atol=1e-12)
