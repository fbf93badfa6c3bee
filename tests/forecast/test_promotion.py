"""The promotion gate: a candidate becomes champion only by beating every baseline and the
champion on every metric its kind counts, each by its margin, and the decision says why."""

from __future__ import annotations

import pytest

from forecast.modeling import promotion
from forecast.modeling.promotion import Rule, decide, rules_for, scorer_rules
from forecast.settings import Settings

AUC_AND_BRIER = scorer_rules()


def _m(auc: float, brier: float) -> dict[str, float]:
    return {"roc_auc": auc, "brier": brier}


def test_a_candidate_beating_the_champion_and_every_baseline_is_promoted() -> None:
    decision = decide(
        _m(0.80, 0.15),
        _m(0.78, 0.16),
        {"naive_bayes": _m(0.70, 0.20), "logistic_regression": _m(0.75, 0.18)},
        AUC_AND_BRIER,
        champion_note="v3, same holdout",
    )
    assert decision.promote
    assert decision.reasons == [
        "beats naive_bayes: AUC 0.8000 vs 0.7000, Brier 0.1500 vs 0.2000",
        "beats logistic_regression: AUC 0.8000 vs 0.7500, Brier 0.1500 vs 0.1800",
        "beats champion (v3, same holdout): AUC 0.8000 vs 0.7800, Brier 0.1500 vs 0.1600",
    ]
    assert str(decision).startswith("promote: beats naive_bayes")


def test_losing_to_one_baseline_on_one_metric_blocks_promotion_and_names_it() -> None:
    decision = decide(
        _m(0.80, 0.19),
        _m(0.70, 0.25),
        {"naive_bayes": _m(0.70, 0.20), "logistic_regression": _m(0.75, 0.18)},
        AUC_AND_BRIER,
    )
    assert not decision.promote
    assert (
        "does not beat logistic_regression: AUC 0.8000 vs 0.7500, Brier 0.1900 vs 0.1800"
        in decision.reasons
    )
    assert "beats naive_bayes: AUC 0.8000 vs 0.7000, Brier 0.1900 vs 0.2000" in decision.reasons
    assert str(decision).startswith("do not promote: ")


def test_with_no_champion_yet_the_baselines_decide_and_the_reasons_say_so() -> None:
    decision = decide(_m(0.80, 0.15), None, {"naive_bayes": _m(0.70, 0.20)}, AUC_AND_BRIER)
    assert decision.promote and decision.reasons[-1] == promotion.NO_CHAMPION
    assert not any("champion (" in r for r in decision.reasons)


def test_a_run_without_model_metrics_is_not_promoted() -> None:
    decision = decide({}, None, {"naive_bayes": _m(0.70, 0.20)}, AUC_AND_BRIER)
    assert not decision.promote and decision.reasons == ["the run has no model metrics"]


def test_a_gain_within_the_margin_is_not_enough_and_the_reason_gives_the_margin() -> None:
    candidate, champion = _m(0.81, 0.149), _m(0.80, 0.150)
    assert decide(candidate, champion, {}, scorer_rules()).promote
    strict = decide(candidate, champion, {}, scorer_rules(min_auc_gain=0.02))
    assert not strict.promote
    assert strict.reasons == [
        "does not beat champion: AUC 0.8100 vs 0.8000 (needs +0.0200), Brier 0.1490 vs 0.1500"
    ]
    brier_margin = decide(candidate, champion, {}, scorer_rules(min_brier_gain=0.005))
    assert not brier_margin.promote and "Brier 0.1490 vs 0.1500 (needs -0.0050)" in str(
        brier_margin
    )
    assert decide(_m(0.83, 0.14), champion, {}, scorer_rules(0.02, 0.005)).promote


def test_the_margins_come_from_settings_for_leads_and_deals() -> None:
    settings = Settings(promote_min_auc_gain=0.02, promote_min_brier_gain=0.001)
    for kind in ("leads", "deals"):
        rules = {r.metric: r for r in rules_for(kind, settings)}
        assert set(rules) == {"roc_auc", "brier"}
        assert rules["roc_auc"].higher_is_better and rules["roc_auc"].margin == 0.02
        assert not rules["brier"].higher_is_better and rules["brier"].margin == 0.001


def test_a_missing_metric_loses_for_the_candidate_and_is_beaten_for_a_rival() -> None:
    nan = float("nan")
    assert not decide(_m(nan, 0.15), None, {"nb": _m(0.7, 0.2)}, AUC_AND_BRIER).promote
    beaten = decide(_m(0.8, 0.15), None, {"nb": {"brier": 0.2}}, AUC_AND_BRIER)
    assert beaten.promote and "AUC 0.8000 vs n/a" in beaten.reasons[0]


def _t(concordance: float, brier: float) -> dict[str, float]:
    return {"concordance": concordance, "brier": brier, "won_30d_predicted": 0.1}


def test_the_timing_gate_wants_concordance_higher_and_brier_lower() -> None:
    rules = rules_for("timing", Settings())
    baseline = {"stage_km": _t(0.60, 0.080)}
    better = decide(_t(0.70, 0.070), None, baseline, rules)
    assert better.promote
    assert better.reasons[0] == (
        "beats stage_km: concordance 0.7000 vs 0.6000, Brier 0.0700 vs 0.0800"
    )
    higher_brier = decide(_t(0.70, 0.090), None, baseline, rules)
    assert not higher_brier.promote and "does not beat stage_km" in higher_brier.reasons[0]
    lower_concordance = decide(
        _t(0.55, 0.070), _t(0.50, 0.1), baseline, rules, champion_note="v1, its own holdout"
    )
    assert not lower_concordance.promote
    assert lower_concordance.reasons == [
        "does not beat stage_km: concordance 0.5500 vs 0.6000, Brier 0.0700 vs 0.0800",
        "beats champion (v1, its own holdout): concordance 0.5500 vs 0.5000, "
        "Brier 0.0700 vs 0.1000",
    ]


@pytest.mark.parametrize(("mine", "theirs", "wins"), [(0.3, 0.2, False), (0.1, 0.2, True)])
def test_a_kind_says_which_way_is_better(mine: float, theirs: float, wins: bool) -> None:
    lower_is_better = [Rule("wape", "WAPE", higher_is_better=False)]
    decision = decide({"wape": mine}, None, {"pipeline": {"wape": theirs}}, lower_is_better)
    assert decision.promote is wins


# --- the paired bootstrap ------------------------------------------------------------------------


def test_a_gain_counts_only_when_its_intervals_low_end_is_above_the_margin() -> None:
    baselines = {"stage_win_rate": _m(0.70, 0.20)}
    real = {"stage_win_rate": {"roc_auc": [0.05, 0.02, 0.08], "brier": [0.02, 0.01, 0.03]}}
    noise = {"stage_win_rate": {"roc_auc": [0.05, -0.01, 0.11], "brier": [0.02, 0.01, 0.03]}}
    promoted = decide(_m(0.75, 0.18), None, baselines, AUC_AND_BRIER, gains=real)
    assert promoted.promote
    assert promoted.reasons[0] == (
        "beats stage_win_rate: AUC 0.7500 vs 0.7000 (gain +0.0500, 95% CI +0.0200 to +0.0800), "
        "Brier 0.1800 vs 0.2000 (gain +0.0200, 95% CI +0.0100 to +0.0300)"
    )
    refused = decide(_m(0.75, 0.18), None, baselines, AUC_AND_BRIER, gains=noise)
    assert not refused.promote  # better on the point estimate, but the gain could be nothing
    assert "95% CI -0.0100 to +0.1100" in refused.reasons[0]
    with_margin = decide(
        _m(0.75, 0.18), None, baselines, scorer_rules(min_auc_gain=0.03), gains=real
    )
    assert not with_margin.promote and "needs the low end above 0.0300" in str(with_margin)


def test_the_champion_on_the_same_holdout_is_weighed_by_its_paired_gain() -> None:
    gains = {"champion": {"roc_auc": [0.004, -0.003, 0.011], "brier": [0.001, 0.0, 0.002]}}
    decision = decide(
        _m(0.804, 0.149), _m(0.80, 0.15), {}, AUC_AND_BRIER, champion_note="v3", gains=gains
    )
    assert not decision.promote
    assert decision.reasons[0].startswith("does not beat champion (v3): AUC 0.8040 vs 0.8000 (gain")


def test_a_rival_without_a_paired_gain_is_compared_by_point_estimates() -> None:
    gains = {"stage_win_rate": {"roc_auc": [0.1, 0.05, 0.15], "brier": [0.05, 0.02, 0.08]}}
    decision = decide(
        _m(0.80, 0.15),
        _m(0.79, 0.16),
        {"stage_win_rate": _m(0.70, 0.20)},
        AUC_AND_BRIER,
        champion_note="v1, its own holdout",
        gains=gains,
    )
    assert decision.promote
    assert decision.reasons[1] == (
        "beats champion (v1, its own holdout): AUC 0.8000 vs 0.7900, Brier 0.1500 vs 0.1600"
    )


def _against_naive_bayes(auc_gain: list[float], brier_gain: list[float], peer_auc: float):  # noqa: ANN202
    """A candidate (AUC 0.74, Brier 0.18) that beats the base rate for real, weighed against
    the CRM-style naive Bayes with the paired gains given."""
    gains = {
        "base_rate": {"roc_auc": [0.24, 0.16, 0.31], "brier": [0.03, 0.01, 0.05]},
        "naive_bayes": {"roc_auc": auc_gain, "brier": brier_gain},
    }
    return decide(
        _m(0.74, 0.18),
        None,
        {"base_rate": _m(0.50, 0.21)},
        AUC_AND_BRIER,
        gains=gains,
        peers={"naive_bayes": _m(peer_auc, 0.17)},
    )


def test_a_crm_baseline_that_beats_the_candidate_for_real_blocks_promotion() -> None:
    # The naive rival is beaten for real, but the CRM-style naive Bayes is better beyond noise.
    decision = _against_naive_bayes([-0.05, -0.08, -0.02], [-0.01, -0.03, 0.01], 0.79)
    assert not decision.promote
    said = "is beaten by naive_bayes: AUC 0.7400 vs 0.7900"
    assert any(r.startswith(said) for r in decision.reasons)


def test_a_crm_baseline_ahead_only_within_its_noise_does_not_block_promotion() -> None:
    decision = _against_naive_bayes([-0.02, -0.06, 0.03], [-0.01, -0.02, 0.01], 0.76)
    assert decision.promote
    assert any(r.startswith("is not beaten by naive_bayes") for r in decision.reasons)


def test_without_paired_gains_a_peer_better_on_its_point_estimate_blocks_promotion() -> None:
    peers = {"naive_bayes": _m(0.76, 0.17)}
    rival = {"base_rate": _m(0.50, 0.21)}
    assert not decide(_m(0.74, 0.18), None, rival, AUC_AND_BRIER, peers=peers).promote
    tied = decide(_m(0.76, 0.17), None, rival, AUC_AND_BRIER, peers=peers)
    assert tied.promote  # a tie with a baseline is not a loss to it


def test_a_peer_ahead_by_rounding_alone_is_a_tie() -> None:
    """The logistic family and the logistic baseline are one model: metrics 1e-15 apart."""
    rival = {"base_rate": _m(0.50, 0.21)}
    mine = _m(0.7454, 0.19084612351396835)
    peer = {"logistic_regression": _m(0.7454, 0.19084612351396782)}
    assert decide(mine, None, rival, AUC_AND_BRIER, peers=peer).promote
    gains = {"logistic_regression": {"roc_auc": [0.0, 0.0, 0.0], "brier": [0.0, -3.7e-15, -1e-15]}}
    assert decide(mine, None, rival, AUC_AND_BRIER, peers=peer, gains=gains).promote
