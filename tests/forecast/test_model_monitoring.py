"""Model monitoring: logged scores joined with the outcomes that came after them, and PSI drift
that flags a model served on inputs unlike those it learnt from."""

from __future__ import annotations

from datetime import timedelta

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
def env(tmp_path_factory):  # noqa: ANN001, ANN201
    settings = Settings(state_dir=tmp_path_factory.mktemp("monitoring") / "state")
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
