"""The fast scoring path against LightGBM's own answers: the leaves it reaches, its raw score,
and on trees of one split its own node values.

Every expected value here comes from LightGBM (`Booster.predict`, `trees_to_dataframe`), never
from the service.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from forecast import scoring
from forecast.modeling.contributions import contributions, path_contributions, raw_scores
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from tests.forecast.test_scoring import hand_made_leads, records


@pytest.fixture(scope="module")
def leads():
    return hand_made_leads(300, seed=12)[0]


@pytest.fixture(scope="module")
def model() -> BoostedClassifier:
    X, y = hand_made_leads(2000, seed=11)
    return BoostedClassifier(n_estimators=80, n_jobs=1, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def stumps() -> BoostedClassifier:
    """Trees of one split each: there, a split's change of value is exactly its SHAP value."""
    X, y = hand_made_leads(2000, seed=13)
    return BoostedClassifier(n_estimators=60, num_leaves=2, n_jobs=1, random_state=0).fit(X, y)


def test_a_row_alone_reaches_the_leaves_lightgbm_says(model, leads):
    matrix = model.encode(leads)
    expected = model.booster_.predict(matrix, pred_leaf=True)
    table = path_contributions(model)
    for i in range(40):  # a batch of one goes through LightGBM's single-row predictor
        np.testing.assert_array_equal(
            table.leaves(model.booster_, matrix[i : i + 1]), expected[i : i + 1]
        )
    np.testing.assert_array_equal(table.leaves(model.booster_, matrix), expected)


def test_contributions_and_bias_are_lightgbms_raw_score_row_alone_or_in_a_batch(model, leads):
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    rows = records(leads)
    raw = model.booster_.predict(model.encode(leads), raw_score=True)
    batch = scoring.predict(served, scoring.encode(served, rows))
    bias = path_contributions(model).bias
    np.testing.assert_allclose(batch.contributions.sum(axis=1) + bias, raw, rtol=0, atol=1e-9)
    for i in (0, 3, 99):
        one = scoring.predict(served, scoring.encode(served, [rows[i]]))
        assert one.contributions.sum() + bias == pytest.approx(raw[i], abs=1e-9)


def stump_contributions(model: BoostedClassifier, matrix: np.ndarray) -> np.ndarray:
    """Per row and input, read off LightGBM's own tables for trees of one split: in each tree
    the split's input is credited the reached leaf's value less the root's (leaves from
    `pred_leaf`, values from `trees_to_dataframe`)."""
    booster = model.booster_
    nodes = booster.trees_to_dataframe()
    names = booster.feature_name()
    leaves = booster.predict(matrix, pred_leaf=True)
    out = np.zeros(matrix.shape)
    for t in range(booster.num_trees()):
        tree = nodes[nodes.tree_index == t]
        root = tree[tree.node_depth == 1].iloc[0]
        if root.split_feature is None or root.split_feature != root.split_feature:
            continue  # a tree of one leaf moves nothing
        j = names.index(root.split_feature)
        leaf_value = {
            int(str(r.node_index).split("-L")[1]): r.value
            for r in tree.itertuples()
            if "-L" in str(r.node_index)
        }
        out[:, j] += np.array([leaf_value[int(i)] for i in leaves[:, t]]) - root.value
    return out


def test_on_trees_of_one_split_contributions_are_lightgbms_leaf_less_root_values(stumps, leads):
    served = scoring.Served(scoring.LEAD, select_scorer(stumps), "1", "registry")
    rows = records(leads)
    expected = stump_contributions(stumps, stumps.encode(leads))
    predicted = scoring.predict(served, scoring.encode(served, rows))
    np.testing.assert_allclose(predicted.contributions, expected, rtol=0, atol=1e-9)
    for i in (0, 5, 17):
        one = scoring.predict(served, scoring.encode(served, [rows[i]]))
        np.testing.assert_allclose(one.contributions[0], expected[i], rtol=0, atol=1e-9)


def test_on_trees_of_one_split_reasons_are_the_largest_of_lightgbms_values(stumps, leads):
    served = scoring.Served(scoring.LEAD, select_scorer(stumps), "1", "registry")
    expected = stump_contributions(stumps, stumps.encode(leads))
    columns = stumps.encoder_.columns
    scores = scoring.score(served, records(leads), top=2)
    for s, row in zip(scores, expected, strict=True):
        ups = [j for j in np.argsort(-row, kind="stable") if row[j] > 1e-6][:2]
        downs = [j for j in np.argsort(row, kind="stable") if row[j] < -1e-6][:2]
        assert [r["field"] for r in s.reasons_for] == [columns[j] for j in ups]
        assert [r["field"] for r in s.reasons_against] == [columns[j] for j in downs]
        assert [r["contribution"] for r in s.reasons_for] == [round(row[j], 4) for j in ups]


def test_exact_shap_stays_lightgbms_pred_contrib(model, leads):
    matrix = model.encode(leads)
    np.testing.assert_allclose(
        contributions(model, matrix, method="shap"),
        model.booster_.predict(matrix, pred_contrib=True)[:, :-1],
        rtol=0,
        atol=1e-12,
    )


def test_a_model_that_has_scored_still_pickles_and_scores_the_same(model, leads):
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    row = records(leads)[0]
    before = scoring.score(served, [row])
    copy = pickle.loads(pickle.dumps(model))
    again = scoring.Served(scoring.LEAD, select_scorer(copy), "1", "registry")
    assert scoring.score(again, [row]) == before
    expected = copy.booster_.predict(copy.encode(leads.head(1)), pred_leaf=True)
    np.testing.assert_array_equal(
        path_contributions(copy).leaves(copy.booster_, copy.encode(leads.head(1))), expected
    )


def test_raw_scores_are_lightgbms_with_or_without_contributions(model, leads):
    matrix = model.encode(leads)
    expected = model.booster_.predict(matrix, raw_score=True)
    for wanted in (True, False):
        raw, contrib = raw_scores(model, matrix, with_contributions=wanted)
        np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-12)
        assert (contrib is not None) == wanted
        alone, _ = raw_scores(model, matrix[:1], with_contributions=wanted)
        assert alone[0] == pytest.approx(expected[0], abs=1e-12)
