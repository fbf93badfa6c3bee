"""The calibrated LightGBM model, per-team models, and what serving scores with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from forecast import features as F
from forecast.data.generator import generate_pipeline
from forecast.errors import InvalidInput, ModelNotReady
from forecast.history import DealHistory
from forecast.modeling import estimators as models
from forecast.modeling.baselines import StageWinRate
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier
from forecast.modeling.scorers import select_scorer
from tests.forecast import synthetic


@pytest.fixture(scope="module")
def lead_data() -> tuple[pd.DataFrame, np.ndarray]:
    leads = synthetic.leads(1500)
    X, _ = F.prepare_leads(leads, ["Tags"])
    return X, F.lead_labels(leads).to_numpy()


@pytest.fixture(scope="module")
def lead_model(lead_data: tuple[pd.DataFrame, np.ndarray]) -> BoostedClassifier:
    X, y = lead_data
    return BoostedClassifier(n_jobs=2, random_state=1).fit(X, y)


def test_text_columns_of_pandas_str_dtype_are_categorical() -> None:
    X = pd.DataFrame(
        {
            "a": pd.array(["x", "y", None], dtype="str"),
            "b": pd.array(["p", "q", "p"], dtype=object),
            "n": [1.0, 2.0, None],
        }
    )
    enc = FeatureEncoder().fit(X)
    assert set(enc.levels) == {"a", "b"}
    assert enc.categorical_indices == [0, 1]
    m = enc.transform(pd.DataFrame({"a": ["y", "zzz"], "b": ["p", None], "n": [3.0, 4.0]}))
    assert m[0, 0] == enc.levels["a"].index("y") and np.isnan(m[1, 0]) and np.isnan(m[1, 1])
    row = enc.encode_row({"a": "y", "b": "p", "n": 3})
    np.testing.assert_array_equal(row[0], m[0])


def test_the_booster_treats_text_as_categorical(lead_model: BoostedClassifier) -> None:
    """LightGBM ignores categorical_feature given to a constructor: check the trees themselves."""

    def categorical_splits(node: dict) -> set[int]:
        if "split_feature" not in node:
            return set()
        here = {node["split_feature"]} if node.get("decision_type") == "==" else set()
        return (
            here | categorical_splits(node["left_child"]) | categorical_splits(node["right_child"])
        )

    found: set[int] = set()
    for tree in lead_model.booster_.dump_model()["tree_info"]:
        found |= categorical_splits(tree["tree_structure"])
    columns = lead_model.encoder_.columns
    assert columns.index("Lead Source") in found
    assert found <= set(lead_model.encoder_.categorical_indices)


def test_estimator_contract(lead_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = lead_data
    est = BoostedClassifier(n_estimators=50, n_jobs=2)
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        est.predict_proba(X)
    assert est.fit(X, y) is est
    assert est.n_features_in_ == X.shape[1] and list(est.classes_) == [0, 1]


def test_same_seed_same_model(lead_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = lead_data
    a = BoostedClassifier(n_jobs=2, random_state=7).fit(X, y).predict_proba(X)
    b = BoostedClassifier(n_jobs=2, random_state=7).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
def test_calibration_uses_rows_the_booster_never_saw(
    lead_data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch, calibration: str
) -> None:
    """Each row carries its own weight, so the weights LightGBM and the calibrator are handed
    say which rows each saw; groups of three rows stay on one side."""
    X, y = lead_data
    n = len(X)
    weight = 1.0 + np.arange(n) / n  # distinct: a row's weight names the row
    group = np.arange(n) // 3
    seen: dict[str, np.ndarray] = {}
    real_train = models.lgb.train

    def spy_train(params, train_set, *args, valid_sets=(), **kwargs):  # noqa: ANN001, ANN202
        seen["booster"] = np.asarray(train_set.weight).copy()
        seen["early_stopping"] = np.asarray(valid_sets[0].weight).copy()
        return real_train(params, train_set, *args, valid_sets=valid_sets, **kwargs)

    class SpyLogistic(models.LogisticRegression):
        def fit(self, X, y, sample_weight=None):  # noqa: ANN001, ANN201, N803
            seen["calibrator"] = np.asarray(sample_weight).copy()
            return super().fit(X, y, sample_weight=sample_weight)

    class SpyIsotonic(models.IsotonicRegression):
        def fit(self, X, y, sample_weight=None):  # noqa: ANN001, ANN201, N803
            seen["calibrator"] = np.asarray(sample_weight).copy()
            return super().fit(X, y, sample_weight=sample_weight)

    monkeypatch.setattr(models.lgb, "train", spy_train)
    monkeypatch.setattr(models, "LogisticRegression", SpyLogistic)
    monkeypatch.setattr(models, "IsotonicRegression", SpyIsotonic)
    model = BoostedClassifier(n_jobs=2, random_state=1, calibration=calibration).fit(
        X, y, sample_weight=weight, groups=group
    )

    # The booster weighs each group one; the calibrator each row its own weight.
    row_of = {w: i for i, w in enumerate(weight)}
    row_in_booster = {w: i for i, w in enumerate(models.per_group_weights(weight, group))}
    rows = {
        part: {(row_of if part == "calibrator" else row_in_booster)[w] for w in seen[part]}
        for part in ("booster", "early_stopping", "calibrator")
    }
    assert rows["calibrator"].isdisjoint(rows["booster"])
    assert rows["calibrator"].isdisjoint(rows["early_stopping"])
    assert rows["booster"] | rows["early_stopping"] | rows["calibrator"] == set(range(n))
    assert 0.15 * n < len(rows["calibrator"]) < 0.25 * n  # calibration_fraction is 0.2
    for part in rows.values():
        assert {i for i in range(n) if group[i] in {group[j] for j in part}} == part
    assert model.n_rows_ == {
        "fit": len(rows["booster"]),
        "early_stopping": len(rows["early_stopping"]),
        "calibration": len(rows["calibrator"]),
    }
    p = model.predict_proba(X)[:, 1]
    assert 0 < p.min() and p.max() < 1


def test_one_class_or_misaligned_input_is_refused(lead_data) -> None:
    X, y = lead_data
    with pytest.raises(InvalidInput, match="one class"):
        BoostedClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(InvalidInput, match="labels"):
        BoostedClassifier().fit(X, y[:-1])


def test_grades_follow_the_stored_cut_points(lead_model: BoostedClassifier) -> None:
    a, b, c = lead_model.grade_cuts_
    assert a >= b >= c
    assert lead_model.grade(a) == "A" and lead_model.grade(0.0) == "D"
    grades = lead_model.grade(np.array([1.0, (a + b) / 2 if a > b else b, 0.0]))
    assert grades[0] == "A" and grades[-1] == "D"


def test_a_lead_a_rounding_error_below_a_cut_point_gets_its_grade_by_every_path(
    lead_model: BoostedClassifier,
) -> None:
    """The cut points are training leads' probabilities; the API's leaf sum and a batch's
    compiled one agree to 1e-12, so a lead at a cut point is graded the same by both."""
    a, b, c = lead_model.grade_cuts_
    below = [np.nextafter(x, 0.0) - 1e-14 for x in (a, b, c)]
    assert [lead_model.grade(p) for p in below] == ["A", "B", "C"]
    assert lead_model.grade(np.array(below)).tolist() == ["A", "B", "C"]
    assert lead_model.grade(c - 1e-9) == "D"


def test_the_one_row_path_matches_the_frame_path(
    lead_data: tuple[pd.DataFrame, np.ndarray], lead_model: BoostedClassifier
) -> None:
    """Its speed is measured in bench/one_row_bench.py, not asserted here."""
    X, _ = lead_data
    rows = X.head(20)
    frame_p = lead_model.predict_proba(rows)[:, 1]
    dict_p = [lead_model.score_row(r) for r in rows.to_dict("records")]
    np.testing.assert_allclose(frame_p, dict_p, rtol=1e-9)


def test_more_engagement_does_not_lower_the_score_on_average(lead_model) -> None:
    base = pd.DataFrame(
        {
            "Lead Source": ["Google"] * 50,
            "TotalVisits": np.arange(50) % 3,
            "Country": ["India"] * 50,
            "Do Not Email": ["No"] * 50,
        }
    )
    more = base.assign(TotalVisits=base["TotalVisits"] + 6)
    assert lead_model.predict_proba(more)[:, 1].mean() > lead_model.predict_proba(base)[:, 1].mean()


def test_renaming_a_lead_does_not_change_its_score() -> None:
    """A lead's number is in the data the model learns from, and here it even gives the outcome
    away; it is an identifier, so it is dropped and renumbering a lead cannot move its score.
    The control model, fitted with the number kept, shows the change would be seen."""
    leads = synthetic.leads(1500, seed=5)
    rng = np.random.default_rng(5)
    converted = leads["converted"].to_numpy(dtype=float)
    # Numbered so that converted leads mostly have the high numbers.
    leads["Lead Number"] = 10_000 + np.argsort(
        np.argsort(converted + rng.uniform(0, 0.7, len(leads)))
    )
    X, columns = F.prepare_leads(leads, ["Tags"])
    y = F.lead_labels(leads).to_numpy()
    assert "Lead Number" in columns.identifiers
    model = BoostedClassifier(n_estimators=100, n_jobs=2, random_state=1).fit(X, y)
    lead = leads.iloc[int(np.flatnonzero(converted == 0)[0])].to_dict()
    renamed = {**lead, "Lead Number": int(leads["Lead Number"].max())}
    assert model.score_row(renamed) == model.score_row(lead)

    reads_it = BoostedClassifier(n_estimators=100, n_jobs=2, random_state=1).fit(
        X.assign(**{"Lead Number": leads["Lead Number"].astype(float)}), y
    )
    assert reads_it.score_row(renamed) != pytest.approx(reads_it.score_row(lead), abs=0.01)


def test_per_team_models_only_where_history_allows_and_the_global_model_elsewhere() -> None:
    rows = F.deal_training_rows(synthetic.deal_history(1500, seed=4, teams=3))
    X, y, w = F.deal_features(rows), rows["won"].to_numpy(), rows["weight"].to_numpy()
    model = PerTeamClassifier(BoostedClassifier(n_jobs=2), min_won=150, min_lost=10_000).fit(
        X, y, w, rows["id"]
    )
    assert model.team_models_ == {}
    assert all("too little history" in e["why"] for e in model.team_report_.values())
    model = PerTeamClassifier(BoostedClassifier(n_jobs=2), min_won=100, min_lost=100).fit(
        X, y, w, rows["id"]
    )
    assert all("auc_team" in e for e in model.team_report_.values())
    unseen = X.head(3).assign(team="a team never seen")
    assert model.model_for_row(unseen.iloc[0].to_dict()) is model.global_
    np.testing.assert_allclose(
        model.predict_proba(unseen)[:, 1], model.global_.predict_proba(unseen)[:, 1]
    )


def test_scoring_falls_back_to_the_stage_win_rate_labelled_as_such() -> None:
    rates = StageWinRate(prior=0).fit(pd.DataFrame({"stage": ["A", "A", "B"]}), [1, 0, 1])
    scorer = select_scorer(None, stage_rates=rates)
    assert scorer.is_fallback and scorer.method == "stage_win_rate"
    assert "per-stage historical win rate" in scorer.label
    assert scorer.score_row({"stage": "A"}) == pytest.approx(0.5)
    assert select_scorer(None, base_rate=0.3).score_row({}) == pytest.approx(0.3)
    with pytest.raises(ModelNotReady):
        select_scorer(None)


def test_with_a_model_the_scorer_says_model(lead_model) -> None:
    scorer = select_scorer(lead_model, stage_rates={"A": 0.1})
    assert scorer.method == "model" and not scorer.is_fallback


def test_scores_run_from_0_to_100_and_grades_a_to_d(lead_data, lead_model) -> None:
    from forecast.modeling.estimators import GRADES, to_score

    X, _ = lead_data
    p = lead_model.predict_proba(X)[:, 1]
    scores = [to_score(v) for v in p]
    assert 0 <= min(scores) and max(scores) <= 100 and to_score(1.2) == 100
    assert set(lead_model.grade(p)) <= set(GRADES)
    # Higher probability never gets a worse grade.
    order = np.argsort(p)
    ranks = [GRADES.index(g) for g in lead_model.grade(p[order])]
    assert all(a >= b for a, b in zip(ranks, ranks[1:], strict=False))


def test_the_booster_weighs_each_deal_one_and_the_calibrator_each_row() -> None:
    w = models.per_group_weights(np.ones(5), np.array(["a", "a", "a", "b", "c"]))
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    np.testing.assert_allclose(models.per_group_weights(np.full(3, 2.0), [1, 2, 3]), 2.0)


def test_a_deal_probability_is_the_share_won_of_the_deals_met_in_its_stage() -> None:
    # A won deal stays open longer, so it is met at more snapshots. Weighing each deal one in
    # all (1 / its rows) made early-stage probabilities a third of the share won.
    g = generate_pipeline(3000, seed=7, start="2023-01-01", end="2024-12-31")
    history = DealHistory.from_frames(g.opportunities, g.history, g.stages)
    rows = F.deal_training_rows(history, every_days=14)
    X, y = F.deal_features(rows), rows["won"].to_numpy(float)
    model = BoostedClassifier(n_jobs=2, random_state=1).fit(X, y, rows["weight"], rows["id"])
    p = model.predict_proba(X)[:, 1]
    per_stage = pd.DataFrame({"stage": rows["stage"], "p": p, "won": y}).groupby("stage")
    met = per_stage.agg(p=("p", "mean"), won=("won", "mean"), n=("won", "size"))
    met = met[met["n"] >= 300]
    assert len(met) >= 3
    assert (met["p"] - met["won"]).abs().max() < 0.05, met
