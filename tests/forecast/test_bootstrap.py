"""Bootstrap intervals and paired gains: right on one resample, seeded, honest about noise."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from forecast.modeling import bootstrap


def _scored(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    good = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, n), 0, 1)
    noise = rng.random(n)
    return y, good, noise


def test_one_resample_of_weights_gives_sklearns_auc_and_the_brier_score_ties_included() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1.0])
    p = np.array([0.1, 0.4, 0.4, 0.8, 0.4, 0.2, 0.9, 0.9])  # ties across classes
    w = np.array([1, 2, 1, 0.5, 1, 3, 1, 1.0])
    auc, brier = bootstrap.auc_and_brier(y, p, w[None, :])
    assert np.isclose(auc[0], roc_auc_score(y, p, sample_weight=w))
    assert np.isclose(brier[0], np.sum(w * (p - y) ** 2) / np.sum(w))


def test_a_resample_with_one_class_has_no_auc() -> None:
    auc, _ = bootstrap.auc_and_brier(np.array([1.0, 1.0]), np.array([0.2, 0.7]), np.ones((1, 2)))
    assert np.isnan(auc[0])


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    y, good, _ = _scored(300)
    a = bootstrap.replicates(y, {"m": good}, resamples=200, seed=1)
    b = bootstrap.replicates(y, {"m": good}, resamples=200, seed=1)
    c = bootstrap.replicates(y, {"m": good}, resamples=200, seed=2)
    assert np.array_equal(a["m"]["roc_auc"], b["m"]["roc_auc"])
    assert not np.array_equal(a["m"]["roc_auc"], c["m"]["roc_auc"])


def test_a_small_holdout_has_a_wide_interval_that_narrows_with_more_rows() -> None:
    widths = []
    for n in (80, 4000):
        y, good, _ = _scored(n)
        draws = bootstrap.replicates(y, {"m": good}, resamples=500, seed=3)
        point = roc_auc_score(y, good)
        ci = bootstrap.interval(point, draws["m"]["roc_auc"])
        assert ci.low < point < ci.high
        widths.append(ci.high - ci.low)
    assert widths[0] > 3 * widths[1]
    assert widths[0] > 0.1  # 80 rows: an AUC is only known to several points


def test_rows_of_one_group_are_drawn_together() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    counts, index = bootstrap.resample_counts(groups, 6, 50, seed=0)
    assert counts.shape == (50, 3) and np.all(counts.sum(axis=1) == 3)
    assert index[0] == index[1] and index[3] == index[4] == index[5] and index[0] != index[2]


def test_a_paired_gain_is_real_for_a_better_scorer_and_zero_for_the_same_one() -> None:
    y, good, noise = _scored(400)
    draws = bootstrap.replicates(y, {"good": good, "noise": noise}, resamples=500, seed=4)
    points = {
        "good": {"roc_auc": roc_auc_score(y, good), "brier": np.mean((good - y) ** 2)},
        "noise": {"roc_auc": roc_auc_score(y, noise), "brier": np.mean((noise - y) ** 2)},
    }
    better = bootstrap.gain(draws["good"], draws["noise"], points["good"], points["noise"])
    assert better["roc_auc"].low > 0 and better["brier"].low > 0
    same = bootstrap.gain(draws["good"], draws["good"], points["good"], points["good"])
    assert same["roc_auc"].as_list() == [0.0, 0.0, 0.0]


def test_pairing_makes_the_gain_narrower_than_the_two_intervals_apart() -> None:
    rng = np.random.default_rng(5)
    y, good, _ = _scored(300)
    close = np.clip(good + rng.normal(0, 0.03, len(y)), 0, 1)  # nearly the same scorer
    draws = bootstrap.replicates(y, {"a": good, "b": close}, resamples=500, seed=6)
    pa = {"roc_auc": roc_auc_score(y, good), "brier": 0.0}
    pb = {"roc_auc": roc_auc_score(y, close), "brier": 0.0}
    paired = bootstrap.gain(draws["a"], draws["b"], pa, pb)["roc_auc"]
    apart = bootstrap.interval(pa["roc_auc"], draws["a"]["roc_auc"])
    assert (paired.high - paired.low) < 0.5 * (apart.high - apart.low)


def test_with_intervals_adds_low_and_high_around_the_point() -> None:
    y, good, _ = _scored(500)
    draws = bootstrap.replicates(y, {"m": good}, resamples=300, seed=7)["m"]
    out = bootstrap.with_intervals(
        {"roc_auc": roc_auc_score(y, good), "brier": float(np.mean((good - y) ** 2))}, draws
    )
    assert out["roc_auc_ci_low"] < out["roc_auc"] < out["roc_auc_ci_high"]
    assert out["brier_ci_low"] < out["brier"] < out["brier_ci_high"]


def _grouped(n: int, deals: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups = np.array([f"d{i}" for i in rng.integers(0, deals, n)])
    y = (rng.random(n) < 0.4).astype(float)
    p = np.round(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.25, n), 0, 1), 2)  # many ties
    w = rng.random(n) + 0.1
    return y, p, w, groups


def test_each_resample_is_the_weighted_auc_and_brier_of_the_deals_it_drew() -> None:
    y, p, w, groups = _grouped(400, 90, seed=11)
    draws = bootstrap.replicates(y, {"m": p}, w, groups, resamples=30, seed=5)["m"]
    counts, index = bootstrap.resample_counts(groups, len(y), 30, seed=5)
    for r in (0, 7, 29):
        rows_w = counts[r][index] * w  # a deal drawn twice weighs twice, all its rows
        assert np.isclose(draws["roc_auc"][r], roc_auc_score(y, p, sample_weight=rows_w))
        assert np.isclose(draws["brier"][r], np.sum(rows_w * (p - y) ** 2) / np.sum(rows_w))


def test_a_large_holdout_is_scored_a_few_resamples_at_a_time_with_the_same_draws(
    monkeypatch,
) -> None:
    y, p, w, groups = _grouped(2000, 500, seed=12)
    whole = bootstrap.replicates(y, {"m": p}, w, groups, resamples=50, seed=3)["m"]
    monkeypatch.setattr(bootstrap, "CHUNK_BYTES", 40 * 2000 * 3)  # three resamples a chunk
    chunked = bootstrap.replicates(y, {"m": p}, w, groups, resamples=50, seed=3)["m"]
    for metric in ("roc_auc", "brier"):
        np.testing.assert_allclose(chunked[metric], whole[metric], rtol=1e-12)
