"""Model monitoring: logged scores joined with the outcomes that came after them, and PSI drift
that flags a model served on inputs unlike those it learnt from."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from forecast import features as feat
from forecast import model_monitoring as mm
from forecast.data import store
from forecast.history import load_deal_history
from forecast.monitoring import loggable_inputs
from forecast.settings import Settings
from tests.serving.conftest import import_generated


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:  # noqa: ANN001
    return Settings(state_dir=tmp_path_factory.mktemp("monitoring") / "state")


@pytest.fixture(scope="module")
def env(settings):  # noqa: ANN001, ANN201
    import_generated(settings, deals=400, seed=11)
    engine = store.get_engine(settings)
    return engine, load_deal_history(engine, "crm")


def _log(engine, rows: list[dict]) -> None:  # noqa: ANN001
    base = {
        "request_id": "t",
        "kind": "deal",
        "model": "deal-close",
        "model_version": "1",
        "inputs_fingerprint": "x",
        "score": 0,
        "dataset": "crm",
        "inputs": None,
    }
    with engine.begin() as conn:
        conn.execute(store.score_log.delete())
        if rows:
            conn.execute(store.score_log.insert(), [{**base, **r} for r in rows])


def _closed(history) -> pd.DataFrame:  # noqa: ANN001
    deals = history.deals
    return deals[deals["status"].isin(["won", "lost"]) & deals["closed_at"].notna()]


def test_scores_inverted_against_outcomes_have_a_realised_auc_below_a_half(env):
    engine, history = env
    closed = _closed(history)
    rows = [
        {
            "subject_id": d.id,
            "probability": 0.2 if d.status == "won" else 0.8,  # the wrong way round
            "scored_at": (d.closed_at - timedelta(days=5)).to_pydatetime(),
        }
        for d in closed.itertuples()
    ]
    _log(engine, rows)
    report = mm.monitor_deals(engine, history, version="1", now="2025-01-01")
    assert report.overall is not None
    assert report.overall.n == len(closed)
    assert report.overall.auc is not None and report.overall.auc < 0.5
    won_rate = float((closed["status"] == "won").mean())
    assert report.overall.observed_rate == pytest.approx(won_rate)
    assert sum(m.n for m in report.by_month) == len(closed)


def test_only_outcomes_after_the_score_count_and_the_last_score_of_a_month(env):
    engine, history = env
    deal = _closed(history).iloc[0]
    close = deal.closed_at.to_pydatetime()
    late = close + timedelta(days=1)
    _log(
        engine,
        [
            {"subject_id": deal.id, "probability": 0.1, "scored_at": late},  # after: unused
            {"subject_id": deal.id, "probability": 0.3, "scored_at": close - timedelta(hours=3)},
            {"subject_id": deal.id, "probability": 0.9, "scored_at": close - timedelta(hours=1)},
        ],
    )
    joined = mm.scored_outcomes(engine, "deal", "crm")
    assert len(joined) == 1  # two scores that month before the close: the last one
    assert joined["probability"].iloc[0] == 0.9
    assert joined["outcome"].iloc[0] == int(deal.status == "won")
    one = mm.accuracy(joined)
    assert one is not None and one.auc is None  # one class: no AUC


def test_a_scored_deal_still_open_has_no_outcome_yet(env):
    engine, history = env
    open_deals = history.deals[history.deals["status"] == "open"]
    assert len(open_deals)
    _log(
        engine,
        [
            {
                "subject_id": open_deals["id"].iloc[0],
                "probability": 0.5,
                "scored_at": pd.Timestamp("2024-06-01"),
            }
        ],
    )
    assert mm.scored_outcomes(engine, "deal", "crm").empty


def _scored_inputs(history, t: str, scale: float = 1.0, product: str | None = None) -> list[dict]:  # noqa: ANN001
    rows = feat.open_deal_rows(history, t)
    rows = pd.concat([rows] * max(1, 60 // max(1, len(rows)) + 1), ignore_index=True)
    rows["amount"] = rows["amount"] * scale
    if product is not None:
        rows["product"] = product
    columns = feat.model_features(history.left_out)
    now = store.utcnow()
    return [
        {"subject_id": None, "probability": 0.5, "scored_at": now, "inputs": loggable_inputs(r)}
        for r in rows[columns].to_dict("records")
    ]


def test_deals_scored_with_amounts_ten_times_larger_are_flagged_as_shifted(env):
    engine, history = env
    _log(engine, _scored_inputs(history, "2024-06-01", scale=10.0))
    drift = mm.deal_drift(engine, history, trained_on_before="2024-06-01")
    assert "scored in the last" in drift.current
    by_name = {f.feature: f for f in drift.features}
    assert by_name["amount"].status == "shifted" and by_name["amount"].psi > mm.SHIFTED_PSI


def test_a_product_never_seen_in_training_is_flagged(env):
    engine, history = env
    _log(engine, _scored_inputs(history, "2024-06-01", product="Brand-new gadget"))
    drift = mm.deal_drift(engine, history, trained_on_before="2024-06-01")
    by_name = {f.feature: f for f in drift.features}
    assert by_name["product"].status == "shifted"
    assert by_name["amount"].status != "shifted"  # amounts as in training


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(1)
    a, b = pd.Series(rng.normal(size=4000)), pd.Series(rng.normal(size=4000))
    assert mm.psi(a, b) < 0.02
    assert mm.psi(a, b + 1.5) > mm.SHIFTED_PSI
    cats = pd.Series(["x", "y"] * 500)
    assert mm.psi(cats, cats.sample(frac=1, random_state=0)) < 0.01
    assert mm.drift_status(0.15) == "moderate" and mm.drift_status(0.05) == "stable"


def test_with_few_scores_logged_drift_is_measured_on_the_open_pipeline(env):
    engine, history = env
    _log(engine, [])
    drift = mm.deal_drift(engine, history, trained_on_before="2024-06-01")
    assert drift.current.startswith("open deals as of")
    assert drift.n_current > 0 and drift.features


# --- the retrain rule -------------------------------------------------------------------------

NOW = datetime(2025, 3, 1)


def _report(auc: float | None, n: int = 100, psi: float = 0.05) -> mm.Monitoring:
    overall = mm.Accuracy("all", n, auc, 0.2, 0.4, 0.4)
    drift = mm.Drift("ref", "cur", 100, 100, [mm.FeatureDrift("amount", psi, mm.drift_status(psi))])
    return mm.Monitoring("deal", "1", [overall], overall, drift)


def test_a_realised_auc_below_the_minimum_calls_for_retraining_and_says_so():
    rule = mm.RetrainRule(min_auc=0.6)
    decision = mm.retrain_decision(_report(0.45), NOW, rule, NOW)
    assert decision.retrain and "realised AUC 0.450" in decision.reasons[0]
    assert not mm.retrain_decision(_report(0.75), NOW, rule, NOW).retrain


def test_a_realised_auc_on_too_few_outcomes_is_not_judged():
    decision = mm.retrain_decision(_report(0.3, n=5), NOW, mm.RetrainRule(min_auc=0.6), NOW)
    assert not decision.retrain and "not judged" in decision.checks[0]


def test_drift_past_the_limit_or_an_old_champion_calls_for_retraining():
    rule = mm.RetrainRule(max_psi=0.2, max_age_days=30)
    fresh = mm.retrain_decision(_report(0.7, psi=0.05), NOW - timedelta(days=3), rule, NOW)
    assert not fresh.retrain and len(fresh.checks) == 2
    drifted = mm.retrain_decision(_report(0.7, psi=0.9), NOW - timedelta(days=3), rule, NOW)
    assert drifted.retrain and "amount 0.90" in drifted.reasons[0]
    old = mm.retrain_decision(_report(0.7, psi=0.05), NOW - timedelta(days=45), rule, NOW)
    assert old.retrain and "45 days old" in old.reasons[0]


def test_retrain_if_needed_retrains_through_train_only_when_the_rule_says_so(
    monkeypatch, env, settings
):
    from typer.testing import CliRunner

    from forecast.modeling import registry
    from training import retrain_cli
    from training.cli import app

    engine, history = env
    created = (datetime.now() - timedelta(days=2)).timestamp() * 1000
    monkeypatch.setattr(
        registry,
        "list_models",
        lambda settings: [
            {
                "kind": "deals",
                "dataset": "crm",
                "version": "3",
                "aliases": ["champion"],
                "created": created,
            }
        ],
    )
    monkeypatch.setattr(
        registry,
        "show_model",
        lambda kind, version, settings, dataset=None: {
            "params": {"dataset": "crm", "split_cut": "2024-06-01"}
        },
    )
    trained: list[str] = []
    monkeypatch.setattr(
        retrain_cli, "_train", lambda kind, *a, **k: trained.append(kind.value) or {"ok": 1}
    )
    monkeypatch.setattr(retrain_cli, "get_settings", lambda: settings)
    _log(engine, [])
    runner = CliRunner()
    young = runner.invoke(app, ["retrain", "--if-needed", "--max-age-days", "30", "--json"])
    assert young.exit_code == 0, young.output
    said = json.loads(young.stdout)
    assert said["decision"]["retrain"] is False and "2 days old" in said["decision"]["checks"][0]
    assert trained == []

    _log(engine, _scored_inputs(history, "2024-06-01", scale=10.0))  # inputs shifted
    shifted = runner.invoke(app, ["retrain", "--if-needed", "--max-psi", "0.2", "--json"])
    assert shifted.exit_code == 0, shifted.output
    said = json.loads(shifted.stdout)
    assert said["decision"]["retrain"] is True and "amount" in said["decision"]["reasons"][0]
    assert trained == ["deals"] and said["training"] == {"ok": 1}


def test_a_lead_counts_once_its_conversion_was_recorded_after_the_score(env):
    engine, _ = env
    scored = datetime(2025, 1, 10)
    leads = [
        {"id": "L1", "converted": 1, "updated_at": scored + timedelta(days=3)},
        {"id": "L2", "converted": 0, "updated_at": scored + timedelta(days=3)},
        {"id": "L3", "converted": 1, "updated_at": scored - timedelta(days=3)},  # known before
        {"id": "L4", "converted": None, "updated_at": scored + timedelta(days=3)},  # not yet
    ]
    with engine.begin() as conn:
        conn.execute(store.leads.delete().where(store.leads.c.dataset == "crm"))
        conn.execute(
            store.leads.insert(),
            [{**lead, "dataset": "crm", "created_at": None, "attributes": {}} for lead in leads],
        )
    rows = [
        {"subject_id": lead["id"], "probability": p, "scored_at": scored, "kind": "lead"}
        for lead, p in zip(leads, [0.8, 0.3, 0.9, 0.5], strict=True)
    ]
    _log(engine, rows)
    joined = mm.scored_outcomes(engine, "lead", "crm")
    assert sorted(joined["subject_id"]) == ["L1", "L2"]
    report = mm.accuracy(joined)
    assert report is not None and report.auc == 1.0 and report.observed_rate == 0.5


def test_inputs_that_grow_with_history_are_shown_but_never_call_for_retraining(tmp_path):
    settings = Settings(state_dir=tmp_path / "state")
    import_generated(settings, deals=3000, seed=4)
    engine = store.get_engine(settings)
    history = load_deal_history(engine, "crm")
    _log(engine, [])
    # The same kind of pipeline a year apart: only the calendar moved.
    drift = mm.deal_drift(engine, history, trained_on_before="2023-10-01", now="2024-10-01")
    grown = {f.feature: f for f in drift.features if f.feature in feat.GROWS_WITH_HISTORY}
    assert grown["rep_closed_deals"].psi > mm.SHIFTED_PSI  # a year of closes moved the counts
    assert all(f.status == mm.GROWS and not f.counts for f in grown.values())
    others = [f.psi for f in drift.features if f.feature not in feat.GROWS_WITH_HISTORY]
    assert drift.max_psi == max(others)
    overall = mm.Accuracy("all", 100, 0.8, 0.2, 0.4, 0.4)
    report = mm.Monitoring("deal", "1", [overall], overall, drift)
    rule = mm.RetrainRule(max_psi=max(others) + 0.01, max_age_days=365)
    decision = mm.retrain_decision(report, NOW - timedelta(days=3), rule, NOW)
    assert not decision.retrain, decision.reasons


def test_every_served_model_has_its_own_entry_naming_its_kind_and_dataset(env):
    from forecast import scoring
    from forecast.modeling.scorers import Scorer, select_scorer

    engine, _ = env
    _log(engine, [])

    def champion(kind: str, version: str, dataset: str) -> scoring.Served:
        return scoring.Served(kind, Scorer("model", "a model", model=object()), version,
                              "registry", {}, dataset)  # fmt: skip

    fallback = select_scorer(None, stage_rates={"Prospecting": 0.5})
    models = scoring.ModelSet(
        leads={"web": champion("leads", "2", "web"), "events": champion("leads", "1", "events")},
        deals={
            "crm": champion("deals", "3", "crm"),
            "other": scoring.Served("deals", fallback, None, "fallback", {}, "other"),
        },
        deal_contexts={"crm": scoring.deal_context(engine, "crm")},
    )
    reports = mm.monitor_served(engine, models)
    assert [(r.kind, r.dataset, r.version, r.source) for r in reports] == [
        ("lead", "events", "1", "registry"),
        ("lead", "web", "2", "registry"),
        ("deal", "crm", "3", "registry"),
        ("deal", "other", None, "fallback"),
    ]
    crm, other = reports[2], reports[3]
    assert crm.drift is not None and crm.to_dict()["dataset"] == "crm"
    # A fallback learnt from no training rows: nothing to monitor, and it says so.
    assert other.drift is None and other.overall is None
    assert "fallback" in other.notes[0] and "nothing to monitor" in other.notes[0]
