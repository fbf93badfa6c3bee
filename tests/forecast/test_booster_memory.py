"""What issue 14 cut from a big run's memory changes no value: the booster's text kept as
categoricals, the matrix encoded a part at a time, the group fractions hashed once per id, the
family sample filtered as slices come."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import dask_rows
from forecast import features as F
from forecast.modeling import families, fitting
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier, group_fractions
from forecast.modeling.memory import give_back
from forecast.modeling.slice_rows import DealSample, InputColumns, shared_ids


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    team = rng.choice(["north", "south", "east"], n)
    stage = pd.array(rng.choice(["a", "b", "c", "d"], n), dtype="str")
    stage[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "stage": stage,
            "team": pd.array(team, dtype="str"),
            "amount": rng.gamma(2.0, 1000.0, n),
            "age_days": rng.random(n) * 100,
        }
    )


def _labels(X: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logit = (X["stage"] == "d").fillna(False).to_numpy() * 1.5 - X["age_days"].to_numpy() / 60
    return (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(float)


def _as_categoricals(X: pd.DataFrame) -> pd.DataFrame:
    return X.apply(lambda c: pd.Categorical(c) if isinstance(c.dtype, pd.StringDtype) else c)


def test_an_encoder_reads_text_kept_as_categoricals_as_the_text_itself() -> None:
    X = _frame(3000)
    plain = FeatureEncoder().fit(X)
    compact = FeatureEncoder().fit(_as_categoricals(X))
    assert compact.levels == plain.levels
    np.testing.assert_array_equal(compact.transform(_as_categoricals(X)), plain.transform(X))


def test_encoding_some_rows_equals_those_rows_of_the_whole_matrix() -> None:
    X = _frame(2000)
    encoder = FeatureEncoder().fit(X)
    rows = np.random.default_rng(2).random(len(X)) < 0.3
    np.testing.assert_array_equal(encoder.transform(X, rows), encoder.transform(X)[rows])
    # A level never seen in fit and a blank are both missing (NaN), as before.
    odd = pd.DataFrame({"stage": pd.array(["zz", None, "a"], dtype="str")})
    codes = encoder.transform(odd)[:, encoder.columns.index("stage")]
    assert (
        np.isnan(codes[0]) and np.isnan(codes[1]) and codes[2] == encoder.levels["stage"].index("a")
    )


def test_a_booster_fitted_on_categoricals_is_the_booster_fitted_on_text() -> None:
    X = _frame(4000)
    y = _labels(X)
    groups = np.array([f"deal-{i // 3}" for i in range(len(X))], dtype=object)
    base = BoostedClassifier(n_estimators=40, n_jobs=1, random_state=3)
    on_text = PerTeamClassifier(base=base, min_won=50, min_lost=50).fit(X, y, None, groups)
    on_codes = PerTeamClassifier(base=base, min_won=50, min_lost=50).fit(
        _as_categoricals(X), y, None, groups
    )
    assert on_codes.global_.booster_.model_to_string() == on_text.global_.booster_.model_to_string()
    assert on_codes.team_report_ == on_text.team_report_
    np.testing.assert_array_equal(on_codes.predict_proba(X), on_text.predict_proba(X))


@pytest.mark.parametrize(
    "groups",
    [
        np.array([f"opp-{i % 97}" for i in range(1000)], dtype=object),
        np.arange(300),
        np.array(["1", 1, 1.0, None, "x"], dtype=object),
    ],
)
def test_group_fractions_are_those_of_each_id_as_text(groups: np.ndarray) -> None:
    text = pd.Series(groups).astype(str)
    hashed = pd.util.hash_pandas_object(text, index=False, hash_key=f"{5:016d}")
    expected = (hashed.to_numpy() >> np.uint64(11)).astype(float) / float(2**53)
    np.testing.assert_array_equal(group_fractions(groups, 5), expected)


def _rows(n_deals: int, start: int) -> pd.DataFrame:
    """Deal rows with every input `features.deal_features` reads, three rows a deal."""
    ids = np.repeat([f"d{start + i}" for i in range(n_deals)], 3)
    rng = np.random.default_rng(start)
    cols: dict[str, object] = {"id": pd.array(ids, dtype="str")}
    for col in F.DEAL_CATEGORICAL:
        cols[col] = pd.array(rng.choice([f"{col}-{k}" for k in range(4)], len(ids)), dtype="str")
    for col in F.DEAL_NUMERIC:
        cols[col] = rng.random(len(ids))
    return pd.DataFrame(cols).assign(won=rng.integers(0, 2, len(ids)).astype(float), weight=1 / 3)


def test_the_sample_filtered_slice_by_slice_is_the_sample_of_all_rows_at_once() -> None:
    slices = [_rows(200, k * 200) for k in range(5)]
    sample = DealSample(most=900, seed=4)
    for rows in slices:
        sample.add(rows)
    whole = pd.concat(slices, ignore_index=True)
    expected = dask_rows.sampled_rows(whole, 4, 900 / len(whole)).reset_index(drop=True)
    pd.testing.assert_frame_equal(sample.rows(), expected)


def test_inputs_kept_a_slice_at_a_time_join_into_the_inputs_of_all_rows() -> None:
    slices = [_rows(50, k * 50) for k in range(3)]
    slices[1].loc[:, "stage"] = pd.array([None] * len(slices[1]), dtype="str")
    for compact in (False, True):
        kept = InputColumns(frozenset(), compact=compact)
        for rows in slices:
            kept.add(rows)
        X, y, w, ids = kept.take()
        whole = pd.concat(slices, ignore_index=True)
        values = X.apply(
            lambda c: (
                c.astype(c.cat.categories.dtype) if isinstance(c.dtype, pd.CategoricalDtype) else c
            )
        )
        pd.testing.assert_frame_equal(values, whole[list(X.columns)])
        np.testing.assert_array_equal(y, whole["won"].to_numpy(float))
        np.testing.assert_array_equal(w, whole["weight"].to_numpy(float))
        np.testing.assert_array_equal(ids, whole["id"].to_numpy())
        assert (X["stage"].dtype == "category") is compact


def test_shared_ids_equal_the_ids_and_share_one_object_per_deal() -> None:
    ids = pd.Series(pd.array(["a", "b", "a", "c", "b"], dtype="str"))
    shared = shared_ids(ids)
    np.testing.assert_array_equal(shared, ids.to_numpy())
    assert shared[0] is shared[2]


def test_giving_memory_back_runs_anywhere() -> None:
    give_back()  # no value to check: it must not raise where glibc or pyarrow is missing


@pytest.mark.parametrize("family", ["logistic_regression", "naive_bayes"])
def test_a_simple_family_scored_in_blocks_scores_as_all_rows_at_once(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    X = _frame(3000)
    model = families.family_model(family).fit(X, _labels(X))
    whole = model.contributions(model.encoder_.transform(X)).sum(axis=1) + model.bias_
    monkeypatch.setattr(families, "SCORE_ROWS", 700)  # five blocks, the last one short
    np.testing.assert_array_equal(model.decision_function(X), whole)
    assert len(model.decision_function(X.iloc[:0])) == 0


def test_the_holdout_scored_in_parts_gets_the_scores_of_all_rows_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X = _frame(3000)
    y = _labels(X)
    groups = np.array([f"deal-{i // 3}" for i in range(len(X))], dtype=object)
    base = BoostedClassifier(n_estimators=30, n_jobs=1, random_state=3)
    models = {
        "per team": PerTeamClassifier(base=base, min_won=50, min_lost=50).fit(X, y, None, groups),
        "logistic": families.family_model("logistic_regression").fit(X, y),
    }
    whole = {name: model.predict_proba(X)[:, 1] for name, model in models.items()}
    seen: list[int] = []
    spy = models["per team"].predict_proba

    def counted(rows: pd.DataFrame) -> np.ndarray:
        seen.append(len(rows))
        return spy(rows)

    monkeypatch.setattr(models["per team"], "predict_proba", counted)
    monkeypatch.setattr(fitting, "SCORE_ROWS", 700)  # five parts, the last one short
    scored = fitting.score_models(models, X)
    for name in models:
        np.testing.assert_array_equal(scored[name], whole[name])
    assert seen == [700, 700, 700, 700, 200]
