"""Which family a run registers: the best on the holdout that really beats the naive rival."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.modeling.fitting import choose_family
from forecast.modeling.promotion import decide, rules_for
from forecast.settings import Settings


class Fixed:
    """A scorer whose holdout probabilities are given (stands in for a fitted model)."""

    def __init__(self, p: np.ndarray) -> None:
        self.p = p

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([1 - self.p, self.p])


@pytest.fixture
def holdout() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.3).astype(float)
    signal = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.12, n), 0.01, 0.99)
    return pd.DataFrame({"x": np.arange(n)}), y, signal


def _settings(**extra: float) -> Settings:
    return Settings(bootstrap_resamples=300, **extra)


def test_the_best_family_that_beats_the_stage_rate_is_registered(holdout) -> None:
    X, y, signal = holdout
    rng = np.random.default_rng(1)
    families = {
        "lightgbm": Fixed(np.clip(signal + rng.normal(0, 0.25, len(y)), 0.01, 0.99)),  # worse
        "logistic_regression": Fixed(signal),
        "naive_bayes": Fixed(np.clip(signal + rng.normal(0, 0.1, len(y)), 0.01, 0.99)),
    }
    stage_rate = Fixed(np.clip(0.3 + 0.05 * (y - 0.3) + rng.normal(0, 0.1, len(y)), 0.01, 0.99))
    out = choose_family(
        "deals",
        families,
        {"stage_win_rate": stage_rate},
        X,
        y,
        None,
        None,
        base_rate=0.3,
        settings=_settings(),
        seed=42,
        warnings=[],
    )
    assert out.family == "logistic_regression" and out.model is families["logistic_regression"]
    assert out.metrics["model"]["roc_auc"] == out.families["logistic_regression"]["roc_auc"]
    assert np.array_equal(out.predictions["model"], signal)
    gain, low, high = out.gains["stage_win_rate"]["roc_auc"]
    assert 0 < low < gain < high
    assert set(out.rivals) == {"stage_win_rate"}
    for values in (*out.metrics.values(), *out.families.values()):
        assert values["roc_auc_ci_low"] < values["roc_auc"] < values["roc_auc_ci_high"]
    decision = decide(
        out.metrics["model"], None, out.rivals, rules_for("deals", _settings()), gains=out.gains
    )
    assert decision.promote and "95% CI" in decision.reasons[0]


def test_leads_are_weighed_against_the_overall_conversion_rate(holdout) -> None:
    X, y, signal = holdout
    families = {"lightgbm": Fixed(signal), "naive_bayes": Fixed(1 - signal)}
    out = choose_family(
        "leads",
        families,
        {},
        X,
        y,
        None,
        None,
        base_rate=0.3,
        settings=_settings(),
        seed=42,
        warnings=[],
    )
    assert out.family == "lightgbm"
    assert out.rivals["base_rate"]["roc_auc"] == 0.5
    assert out.families["lightgbm"]["beats_naive"] == 1.0
    assert out.families["naive_bayes"]["beats_naive"] == 0.0


def test_when_no_family_really_wins_the_best_is_registered_and_the_gate_refuses(holdout) -> None:
    X, y, _ = holdout
    rng = np.random.default_rng(2)
    noise = {f: Fixed(rng.random(len(y))) for f in ("lightgbm", "logistic_regression")}
    stage_rate = Fixed(rng.random(len(y)))
    settings = _settings()
    out = choose_family(
        "deals",
        noise,
        {"stage_win_rate": stage_rate},
        X,
        y,
        None,
        None,
        base_rate=0.3,
        settings=settings,
        seed=42,
        warnings=[],
    )
    best = max(noise, key=lambda f: out.families[f]["roc_auc"])
    assert out.family == best
    decision = decide(
        out.metrics["model"], None, out.rivals, rules_for("deals", settings), gains=out.gains
    )
    assert not decision.promote and "does not beat stage_win_rate" in str(decision)


def test_a_margin_from_the_settings_must_be_cleared_by_the_intervals_low_end(holdout) -> None:
    X, y, signal = holdout
    rng = np.random.default_rng(3)
    stage_rate = Fixed(np.clip(signal + rng.normal(0, 0.05, len(y)), 0.01, 0.99))
    families = {"logistic_regression": Fixed(signal)}
    for margin, wins in ((0.0, True), (0.05, False)):
        settings = _settings(promote_min_auc_gain=margin)
        out = choose_family(
            "deals",
            families,
            {"stage_win_rate": stage_rate},
            X,
            y,
            None,
            None,
            base_rate=0.3,
            settings=settings,
            seed=42,
            warnings=[],
        )
        gain, low, _ = out.gains["stage_win_rate"]["roc_auc"]
        assert 0 < low < 0.05 and (out.families["logistic_regression"]["beats_naive"] == wins)


def test_a_deals_snapshots_are_resampled_together(holdout) -> None:
    X, y, signal = holdout
    groups = np.repeat(np.arange(len(y) // 6), 6)  # six snapshots per deal, one outcome
    y_deal, p_deal = y[groups * 6], signal[groups * 6]
    widths = []
    for resampled_by in (groups, None):
        out = choose_family(
            "deals",
            {"lightgbm": Fixed(p_deal)},
            {"stage_win_rate": Fixed(np.full(len(y), 0.3))},
            X,
            y_deal,
            np.full(len(y), 1 / 6),
            resampled_by,
            base_rate=0.3,
            settings=_settings(),
            seed=42,
            warnings=[],
        )
        widths.append(
            out.metrics["model"]["roc_auc_ci_high"] - out.metrics["model"]["roc_auc_ci_low"]
        )
    # 100 deals, not 600 independent rows: the interval is about √6 times as wide
    assert widths[0] > 1.8 * widths[1]


def test_a_family_a_crm_baseline_beats_for_real_gives_way_to_one_it_does_not() -> None:
    """LightGBM ranks best but is overconfident; the logistic family is the logistic baseline
    itself: the run registers the one the gate can promote."""
    rng = np.random.default_rng(0)
    n = 3000
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 1.2 * z)))).astype(float)
    overconfident = Fixed(1 / (1 + np.exp(-(2.4 * (-1 + 1.2 * z) + 0.02 * rng.normal(size=n)))))
    calibrated = Fixed(1 / (1 + np.exp(-(-1 + 1.2 * z + 0.6 * rng.normal(size=n)))))
    families = {"lightgbm": overconfident, "logistic_regression": calibrated}
    out = choose_family(
        "leads",
        families,
        {"logistic_regression": calibrated},
        pd.DataFrame({"z": z}),
        y,
        None,
        None,
        base_rate=float(y.mean()),
        settings=_settings(),
        seed=1,
        warnings=[],
    )
    assert out.families["lightgbm"]["roc_auc"] > out.families["logistic_regression"]["roc_auc"]
    assert out.family == "logistic_regression"
    peers = {"logistic_regression": out.metrics["logistic_regression"]}
    rules = rules_for("leads", _settings())
    decision = decide(out.metrics["model"], None, out.rivals, rules, gains=out.gains, peers=peers)
    assert decision.promote, decision.reasons
