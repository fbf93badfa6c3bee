"""Training: honest splits, clear refusals, leak warnings, and the promotion rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import features as F
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.history import DealHistory
from forecast.modeling import promotion
from forecast.modeling.baselines import stage_win_rates
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.leaks import single_column_auc
from forecast.modeling.promotion import decide_promotion
from forecast.settings import Settings
from tests.forecast import synthetic


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        lgbm_threads=2,
        min_won_deals=100,
        min_lost_deals=100,
        min_converted_leads=50,
        team_min_won_deals=150,
        team_min_lost_deals=150,
    )


@pytest.fixture(scope="module")
def deal_data() -> DealHistory:
    return synthetic.deal_history(1200, seed=5)


# --- refusals -----------------------------------------------------------------------------------


def test_empty_data_is_refused(settings) -> None:
    with pytest.raises(InvalidInput, match="no leads"):
        train_leads(pd.DataFrame(), settings=settings)
    opps, hist, stages, _ = synthetic.deals(10)
    with pytest.raises(InvalidInput, match="no deals"):
        train_deals(DealHistory.from_frames(opps.head(0), hist, stages), settings=settings)


def test_a_missing_target_column_is_named(settings) -> None:
    with pytest.raises(InvalidInput, match="missing target column 'converted'"):
        train_leads(synthetic.leads(200).drop(columns=["converted"]), settings=settings)
    opps, hist, stages, _ = synthetic.deals(50)
    with pytest.raises(InvalidInput, match=r"deals lack required column\(s\) \['status'\]"):
        DealHistory.from_frames(opps.drop(columns=["status"]), hist, stages)


def test_one_class_only_is_refused(settings) -> None:
    leads = synthetic.leads(300).assign(converted=pd.array([1] * 300, dtype="Int64"))
    with pytest.raises(InvalidInput, match="one class only"):
        train_leads(leads, settings=settings)
    opps, hist, stages, _ = synthetic.deals(300)
    no_losses = DealHistory.from_frames(opps[opps["status"] != "lost"], hist, stages)
    with pytest.raises(InvalidInput, match="one class only"):
        train_deals(no_losses, settings=settings)


def test_too_few_rows_for_a_holdout_is_refused(settings) -> None:
    leads = synthetic.leads(400)
    tight = settings.model_copy(update={"min_holdout_per_class": 500})
    with pytest.raises(InvalidInput, match="too few rows for a holdout"):
        train_leads(leads, leak_columns=["Tags"], settings=tight)


def test_too_little_history_says_how_much_is_missing(settings) -> None:
    history = synthetic.deal_history(150, seed=1)
    won = int((history.deals["status"] == "won").sum())
    lost = int((history.deals["status"] == "lost").sum())
    strict = settings.model_copy(update={"min_won_deals": 200, "min_lost_deals": 200})
    with pytest.raises(InsufficientHistory) as err:
        train_deals(history, settings=strict)
    assert f"{200 - won} won and {200 - lost} lost more" in str(err.value)
    assert "per-stage win rate" in str(err.value)
    leads = synthetic.leads(200)
    converted = int(leads["converted"].sum())
    with pytest.raises(InsufficientHistory, match=f"{120 - converted} more"):
        train_leads(leads, settings=settings.model_copy(update={"min_converted_leads": 120}))


def test_the_fallback_stage_rates_come_from_the_history_there_is() -> None:
    history = synthetic.deal_history(120, seed=2)
    rates = stage_win_rates(history)
    assert set(rates.rates_) <= set(history.stages.open_stages)
    assert rates.rate("Closing") > rates.rate("Prospecting")


# --- leaks --------------------------------------------------------------------------------------


def test_a_column_that_gives_the_answer_away_is_flagged() -> None:
    leads = synthetic.leads(1000)
    X, _ = F.prepare_leads(leads, include_leaks=True)
    aucs = single_column_auc(X, F.lead_labels(leads).to_numpy())
    assert aucs["Tags"] > 0.95 > aucs["Country"]


def test_leak_columns_are_excluded_by_default_and_warned_about_when_included(settings) -> None:
    leads = synthetic.leads(1000)
    result = train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)
    assert "Tags" not in result.features
    assert not any("alone predicts" in w for w in result.warnings)
    leaky = train_leads(
        leads, leak_columns=["Tags"], include_leaks=True, settings=settings, cross_validate=False
    )
    assert "Tags" in leaky.features
    assert any("'Tags' alone predicts the label almost perfectly" in w for w in leaky.warnings)


# --- honest evaluation --------------------------------------------------------------------------


def test_leads_without_dates_get_a_stable_stratified_holdout_and_cv(settings) -> None:
    leads = synthetic.leads(1200)
    a = train_leads(leads, leak_columns=["Tags"], settings=settings, seed=1)
    b = train_leads(
        leads.sample(frac=1, random_state=3),
        leak_columns=["Tags"],
        settings=settings,
        seed=2,
        cross_validate=False,
    )
    assert a.split["method"].startswith("stratified")
    assert a.rows["test"] == b.rows["test"] and a.rows["test_converted"] == b.rows["test_converted"]
    share = a.rows["test_converted"] / a.rows["test"]
    assert share == pytest.approx(a.rows["converted"] / a.rows["labelled"], abs=0.01)
    assert set(a.cv) == {"model", "naive_bayes", "logistic_regression"}


def test_dated_leads_are_split_by_time(settings) -> None:
    result = train_leads(
        synthetic.leads(1200, dated=True), leak_columns=["Tags"], settings=settings
    )
    assert result.split["method"] == "time" and result.cv is None


def test_the_lead_model_beats_naive_bayes_and_is_reproducible(settings) -> None:
    leads = synthetic.leads(2000)
    a = train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)
    b = train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)
    assert a.metrics == b.metrics
    assert a.metrics["model"]["roc_auc"] > a.metrics["naive_bayes"]["roc_auc"]
    assert a.metrics["model"]["brier"] < a.metrics["naive_bayes"]["brier"]
    assert a.examples and a.examples[0]["for"][0]["sentence"].endswith("the score")


def test_deals_are_held_out_by_time_with_each_snapshot_weighing_one(settings, deal_data) -> None:
    result = train_deals(deal_data, settings=settings)
    cut = pd.Timestamp(result.split["cut"])
    assert result.split["method"] == "time"
    assert (result.w_test == 1.0).all() and len(result.w_test) > result.rows["test_deals"]
    ended = deal_data.deals[deal_data.deals["status"] != "open"]
    assert result.rows["test_deals"] == int((ended["closed_at"] >= cut).sum())
    assert set(result.metrics) == {"model", "stage_win_rate", "naive_bayes", "logistic_regression"}
    assert result.metrics["model"]["roc_auc"] > result.metrics["stage_win_rate"]["roc_auc"]
    assert "rep_probability" not in result.features and "csat" not in result.features


def test_training_leaves_out_deals_too_young_at_the_cut_to_have_a_fair_outcome() -> None:
    """Deals created just before the cut have an outcome only if they closed fast (mostly
    lost); the maturity window keeps them out of training."""
    history = synthetic.deal_history(600, seed=6)
    cut, young = pd.Timestamp("2022-12-01"), pd.Timestamp("2022-10-15")
    rows = F.deal_training_rows(history, known_before=cut, created_before=young)
    created = history.deals.set_index("id")["created_at"]
    assert (created[rows["id"].unique()] < young).all()
    all_rows = F.deal_training_rows(history, known_before=cut)
    assert set(rows["id"]) < set(all_rows["id"])


def test_the_deal_split_reports_its_maturity_window(settings, deal_data) -> None:
    split = train_deals(deal_data, settings=settings).split
    assert split["maturity_days"] > 0
    assert pd.Timestamp(split["train_created_before"]) < pd.Timestamp(split["cut"])


def test_the_champion_is_scored_on_the_same_holdout(settings, deal_data) -> None:
    first = train_deals(deal_data, settings=settings)
    second = train_deals(deal_data, settings=settings, incumbent=first.model)
    assert second.metrics["champion"] == pytest.approx(first.metrics["model"])


def test_a_field_the_history_leaves_out_is_never_read_by_the_deal_model(
    settings, deal_data
) -> None:
    """Product moves the odds in this data; left out, changing it cannot move a score. The
    control model, trained with the field, shows the change would be seen."""
    note = "product: blank on 100% of open deals, 0% of closed; left out"
    left = train_deals(deal_data.leaving_out(["product"], [note]), settings=settings)
    assert note in left.warnings
    rows = F.deal_features(F.open_deal_rows(deal_data.keeping_all(), "2023-03-01")).head(20)
    basic, big = rows.assign(product="Basic"), rows.assign(product="Enterprise")
    np.testing.assert_array_equal(left.model.predict_proba(basic), left.model.predict_proba(big))
    control = train_deals(deal_data, settings=settings)
    moved = control.model.predict_proba(basic)[:, 1] - control.model.predict_proba(big)[:, 1]
    assert np.abs(moved).max() > 0.01


# --- promotion ----------------------------------------------------------------------------------


def _m(auc: float, brier: float) -> dict[str, float]:
    return {"roc_auc": auc, "brier": brier}


def test_a_candidate_must_beat_every_baseline_on_auc_and_brier() -> None:
    good = decide_promotion({"model": _m(0.8, 0.15), "naive_bayes": _m(0.7, 0.2)}, None)
    assert good.promote and promotion.NO_CHAMPION in good.reasons
    worse_brier = decide_promotion({"model": _m(0.8, 0.25), "nb": _m(0.7, 0.2)}, None)
    assert not worse_brier.promote and "does not beat nb" in str(worse_brier)


def test_a_candidate_must_beat_the_champion_by_the_margins() -> None:
    metrics = {"model": _m(0.81, 0.149), "nb": _m(0.7, 0.2), "champion": _m(0.80, 0.15)}
    assert decide_promotion(metrics, None).promote
    assert not decide_promotion(metrics, None, min_auc_gain=0.02).promote
    recorded = decide_promotion(
        {"model": _m(0.81, 0.149)}, _m(0.82, 0.14), champion_note="v3, its own holdout"
    )
    assert not recorded.promote and "champion (v3, its own holdout)" in str(recorded)


# --- the shared data (realism) ------------------------------------------------------------------


@pytest.mark.slow
def test_shared_leads_model_beats_logistic_and_naive_bayes_without_leak_columns(
    tmp_path, shared_leads
) -> None:
    from forecast.data.importing import read_export

    export = read_export(shared_leads)
    result = train_leads(
        export.leads,
        leak_columns=export.leak_columns,
        settings=Settings(state_dir=tmp_path, lgbm_threads=2),
        cross_validate=False,
    )
    assert {"Tags", "Lead Quality", "Last Activity", "Last Notable Activity"}.isdisjoint(
        result.features
    )
    model = result.metrics["model"]
    for baseline in ("logistic_regression", "naive_bayes"):
        assert model["roc_auc"] > result.metrics[baseline]["roc_auc"]
        assert model["brier"] < result.metrics[baseline]["brier"]


@pytest.mark.slow
def test_shared_opportunities_train_with_a_time_holdout(tmp_path, shared_opportunities) -> None:
    from forecast.data.importing import read_export

    export = read_export(shared_opportunities)
    history = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    result = train_deals(history, settings=Settings(state_dir=tmp_path, lgbm_threads=2))
    assert result.split["amount_known_before_close"] is False
    assert result.rows["test_deals"] > 500
    assert 0.4 < result.metrics["model"]["roc_auc"] < 0.8
    assert np.isfinite(result.metrics["stage_win_rate"]["brier"])
