"""Time to close: the as-of rule, censoring, competing risks, the baseline and the gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import timing as tm
from forecast.data.stages import DEFAULT_STAGES
from forecast.errors import InsufficientHistory
from forecast.history import JUST_AFTER, DealHistory
from forecast.modeling.promotion import decide_timing_promotion
from forecast.settings import Settings
from tests.forecast.synthetic import deal_history

T = pd.Timestamp


@pytest.fixture(scope="module")
def data() -> DealHistory:
    return deal_history(n=1500, seed=5, days=420)


def test_known_before_hides_everything_recorded_at_or_after_the_date(data):
    t = T("2022-08-01")
    history = DealHistory.from_frames(
        data.deals, data.stage_log, data.stages, options={"amount_known_before_close": False}
    )
    known = history.known_before(t)
    assert (known.deals["created_at"] < t).all() and (known.stage_log["entered_at"] < t).all()
    later = history.deals.set_index("id").loc[known.deals["id"]]
    closed_later = (later["closed_at"] >= t).to_numpy()
    assert closed_later.any()
    k = known.deals[closed_later]
    assert (k["status"] == "open").all() and k["closed_at"].isna().all()
    assert (k["amount"] == k["list_price"]).all()  # the close value was not known yet
    assert not k["stage"].isin(["Won", "Lost"]).any()
    # A stage entered at t itself is not known before t.
    entered_at_t = history.stage_log["entered_at"] == t
    assert entered_at_t.any() and not (known.stage_log["entered_at"] == t).any()


def test_a_deal_closing_after_the_cut_contributes_no_close_to_training(data):
    t = T("2022-08-01")
    rows = tm.survival_rows(data, t, every_days=28)
    closes = data.deals.set_index("id")["closed_at"]
    late = rows["id"].map(closes) >= t
    assert late.any()
    assert (rows.loc[late, "event"] == tm.CENSORED).all()  # censored, not dropped
    assert np.allclose(rows.loc[late, "duration_days"], rows.loc[late, "followup_days"])
    assert (rows["as_of"] < t).all()


def test_timing_landmarks_sit_just_after_creation_and_each_stage_entry(data):
    t = T("2022-08-01")
    rows = tm.survival_rows(data, t, every_days=0)
    created = rows["id"].map(data.deals.set_index("id")["created_at"])
    assert (rows["as_of"] > created).all()
    entries = data.stage_log[data.stage_log["entered_at"] < t]
    entries = entries[entries["stage"].isin(data.stages.open_stages)]
    expected = set(
        zip(
            data.deals.loc[data.deals["created_at"] < t, "id"],
            data.deals.loc[data.deals["created_at"] < t, "created_at"] + JUST_AFTER,
            strict=True,
        )
    )
    expected |= set(zip(entries["opportunity_id"], entries["entered_at"] + JUST_AFTER, strict=True))
    closes = data.deals.set_index("id")["closed_at"]
    # Only while the deal was still open.
    expected = {(i, a) for i, a in expected if not (closes[i] <= a)}
    assert set(zip(rows["id"], rows["as_of"], strict=True)) == expected
    assert (rows["days_in_stage"] < 1e-9).all()  # each sees the stage it just entered


def _perturb_after(history: DealHistory, t: pd.Timestamp) -> DealHistory:
    """The same past, a different future: outcomes from t on flipped, their close dates and
    every stage entry from t on moved."""
    opps = history.deals.copy()
    late = opps["closed_at"] >= t
    opps.loc[late, "status"] = np.where(opps.loc[late, "status"] == "won", "lost", "won")
    opps.loc[late, "closed_at"] = opps.loc[late, "closed_at"] + pd.Timedelta(days=9)
    hist = history.stage_log.copy()
    moved = hist["entered_at"] >= t
    assert (hist["entered_at"] == t).any()  # what happens at t is the future too
    hist.loc[moved, "entered_at"] = hist.loc[moved, "entered_at"] + pd.Timedelta(days=9)
    return DealHistory.from_frames(
        opps,
        hist,
        history.stages,
        field_log=history.field_log,
        options=history.options,
        check_leaks=False,
    )


def test_models_fitted_at_a_date_do_not_change_when_the_future_does(data):
    t = T("2022-09-01")
    settings = Settings(timing_min_closed_deals=10)
    model_a, km_a = tm.fit_timing(data, t, settings=settings)
    other = _perturb_after(data, t)
    model_b, km_b = tm.fit_timing(other, t, settings=settings)
    pipeline = tm.pipeline_rows(data, t)
    assert pipeline.equals(tm.pipeline_rows(other, t))
    for a, b in ((model_a, model_b), (km_a, km_b)):
        pa, pb = a.cumulative(pipeline, [30, 90]), b.cumulative(pipeline, [30, 90])
        np.testing.assert_allclose(pa["won"], pb["won"])
        np.testing.assert_allclose(pa["lost"], pb["lost"])


def test_probabilities_are_coherent_competing_risks(data):
    model, km = tm.fit_timing(data, T("2022-10-01"), settings=Settings(timing_min_closed_deals=10))
    rows = tm.pipeline_rows(data, T("2022-10-01"))
    for m in (model, km):
        cum = m.cumulative(rows, [7, 30, 60, 90, 180])
        assert (cum["won"] >= 0).all() and (cum["closed"] <= 1 + 1e-9).all()
        assert (np.diff(cum["won"], axis=1) >= -1e-12).all()
        assert (np.diff(cum["closed"], axis=1) >= -1e-12).all()
    # Lost deals close faster here: among early closes, fewer are won than among all closes.
    cum = model.cumulative(rows, [7, 180])
    early = cum["won"][:, 0].sum() / cum["closed"][:, 0].sum()
    late = cum["won"][:, 1].sum() / cum["closed"][:, 1].sum()
    assert early < late


def test_predicted_shares_closing_within_30_60_90_days_match_the_holdout(data):
    settings = Settings(timing_min_closed_deals=10, timing_holdout_days=42)
    result = tm.train_timing(data, settings=settings)
    model = result.metrics["model"]
    for h in (30, 60, 90):
        assert model[f"closed_{h}d_predicted"] == pytest.approx(
            model[f"closed_{h}d_observed"], abs=0.06
        )
        assert model[f"won_{h}d_predicted"] == pytest.approx(model[f"won_{h}d_observed"], abs=0.1)
    assert 0.5 < model["concordance"] <= 1
    assert set(result.metrics) == {"model", "stage_km"}


@pytest.fixture(scope="module")
def shared_timing(shared_opportunities) -> tm.TimingResult:
    """The timing run on the shared data, read as an import reads it (leak check on: the
    account and its attributes, blank on most open deals only, are left out)."""
    from forecast.data.importing import read_export

    export = read_export(shared_opportunities)
    history = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    assert "account" in history.left_out
    return tm.train_timing(history)


@pytest.mark.slow
def test_on_the_shared_data_the_model_passes_the_gate_over_the_baseline(shared_timing):
    model, km = shared_timing.metrics["model"], shared_timing.metrics["stage_km"]
    decision = decide_timing_promotion(shared_timing.metrics)
    assert decision.promote, decision.reasons
    assert model["brier"] < km["brier"] and model["concordance"] > km["concordance"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "library: with the leaking account fields left out (export-state leak check), the timing "
        "model on the shared data over-predicts closes (its predicted share won within 30, 60 "
        "and 90 days is above the observed share by more than the 0.03 allowed) and beats "
        "stage_km's concordance by less than the 0.1 asked. With keeping_all() it comes far "
        "nearer on both: the old bar was met through the leak"
    ),
)
def test_on_the_shared_data_the_model_is_calibrated_and_beats_the_baseline(shared_timing):
    model = shared_timing.metrics["model"]
    for h in (30, 60, 90):
        assert model[f"won_{h}d_predicted"] == pytest.approx(model[f"won_{h}d_observed"], abs=0.03)
    decision = decide_timing_promotion(shared_timing.metrics)
    assert decision.promote, decision.reasons
    assert model["concordance"] > shared_timing.metrics["stage_km"]["concordance"] + 0.1


def test_too_little_history_is_said_so():
    history = deal_history(n=200, seed=1, days=100)
    with pytest.raises(InsufficientHistory, match="closed before"):
        tm.fit_timing(history, T("2022-01-20"), settings=Settings())


def test_the_baseline_matches_the_empirical_distribution_without_censoring():
    # Ten deals, created together, closing after 1..10 days; odd ones won.
    n = 10
    opps = pd.DataFrame(
        {
            "id": [f"D{i}" for i in range(n)],
            "status": ["won" if i % 2 else "lost" for i in range(n)],
            "created_at": T("2024-01-01"),
            "amount": 100.0,
            "list_price": 100.0,
            "closed_at": [T("2024-01-01") + pd.Timedelta(days=i + 1) for i in range(n)],
        }
    )
    opps["stage"] = np.where(opps["status"] == "won", "Won", "Lost")
    history = pd.concat(
        [
            pd.DataFrame(
                {
                    "opportunity_id": opps["id"],
                    "stage": "Prospecting",
                    "entered_at": opps["created_at"],
                }
            ),
            pd.DataFrame(
                {
                    "opportunity_id": opps["id"],
                    "stage": opps["stage"],
                    "entered_at": opps["closed_at"],
                }
            ),
        ],
        ignore_index=True,
    )
    h = DealHistory.from_frames(opps, history, DEFAULT_STAGES, check_leaks=False)
    rows = tm.survival_rows(h, T("2024-03-01"), every_days=0)
    km = tm.StageKaplanMeier().fit(rows, len(DEFAULT_STAGES.open_stages))
    fresh = rows.drop_duplicates("id").head(1)
    cum = km.cumulative(fresh, [4, 10])
    assert cum["closed"][0, 0] == pytest.approx(0.4) and cum["closed"][0, 1] == pytest.approx(1)
    assert cum["won"][0, 1] == pytest.approx(0.5)


def test_concordance_counts_ordered_pairs():
    time_ = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([True, True, False, True])
    assert tm.concordance_index(time_, -time_, event) == 1.0
    assert tm.concordance_index(time_, time_, event) == 0.0
    # Usable pairs start at an observed close: (1,2) (1,3) (1,4) (2,3) (2,4). Higher risk should
    # close sooner; only (2,3) is ranked the wrong way round: 4 of 5.
    risk = np.array([0.9, 0.2, 0.5, 0.1])
    assert tm.concordance_index(time_, risk, event) == pytest.approx(0.8)


def test_concordance_agrees_with_lifelines():
    lifelines = pytest.importorskip(
        "lifelines.utils",
        reason="lifelines is optional (not a dependency of forecast): "
        "install it to cross-check the concordance index against it",
    )
    rng = np.random.default_rng(0)
    t, r, e = rng.exponential(size=300), rng.normal(size=300), rng.random(300) < 0.7
    # lifelines scores predicted times (higher = later); ours scores risk (higher = sooner).
    assert tm.concordance_index(t, r, e) == pytest.approx(
        lifelines.concordance_index(t, -r, e), abs=1e-9
    )


def test_runs_are_logged_and_only_a_winning_timing_model_becomes_champion(data, tmp_path):
    """One MLflow store for the timing gate and a backtest run (its set-up costs seconds)."""
    import copy

    import mlflow

    from forecast.forecasting.backtest import backtest
    from forecast.modeling import registry

    settings = Settings(
        state_dir=tmp_path / "state",
        timing_min_closed_deals=10,
        timing_holdout_days=42,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    result = tm.train_timing(data, settings=settings)
    result.metrics["model"]["concordance"] = result.metrics["stage_km"]["concordance"] + 0.05
    result.metrics["model"]["brier"] = result.metrics["stage_km"]["brier"] - 0.01
    first = registry.log_training(result, settings)
    assert first.promoted and first.version == "1"
    champion = registry.load_timing_champion(settings)
    assert champion is not None and champion[0] == "1"
    rows = tm.pipeline_rows(data, T("2022-10-01"))
    np.testing.assert_allclose(
        champion[1].cumulative(rows, [30])["won"], result.model.cumulative(rows, [30])["won"]
    )
    worse = copy.copy(result)
    worse.metrics = copy.deepcopy(result.metrics)
    worse.metrics["model"]["brier"] += 0.02  # now loses to the baseline
    second = registry.log_training(worse, settings)
    assert not second.promoted and any("does not beat stage_km" in r for r in second.reasons)
    assert registry.load_timing_champion(settings)[0] == "1"
    client = mlflow.MlflowClient(settings.resolved_mlflow_uri)
    logged = client.get_run(first.run_id).data.metrics
    for h in (30, 60, 90):
        assert f"model_won_{h}d_predicted" in logged and f"stage_km_won_{h}d_observed" in logged
    assert "model_concordance" in logged

    report = backtest(data, freq="quarter", start="2022-Q3", end="2022-Q4", settings=settings)
    run = client.get_run(registry.log_backtest(report, settings))
    assert run.data.metrics["overall_model_wape"] == pytest.approx(
        report.overall()["model"]["wape"], abs=1e-4
    )
    assert "overall_coverage_p10_p90" in run.data.metrics
    assert run.data.params["freq"] == "quarter"


# --- the time table: one score per cell ----------------------------------------------------------


def _scores_everywhere(booster, shape) -> np.ndarray:
    grid = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1)
    return booster.predict(grid.reshape(-1, len(shape)).astype(float), raw_score=True)


def test_the_time_table_holds_the_boosters_score_of_every_cell():
    """`grid_scores` scores one value per class of the trees' thresholds and copies the rest:
    it must give every cell exactly what scoring that cell gives, bit for bit."""
    import lightgbm as lgb

    from forecast.timing.hazard import grid_scores

    rng = np.random.default_rng(0)
    # Integer features with gaps (a threshold may fall on a value no row had) and zeros.
    shape = (3, 4, 30, 30, 14)
    X = np.column_stack([rng.choice(np.arange(0, n, 2), 4000) for n in shape]).astype(float)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(X[:, 2] - X[:, 3]) / 10))).astype(float)
    params = {"objective": "binary", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1}
    boosters = [lgb.train(params, lgb.Dataset(X, y), num_boost_round=40)]
    cat = lgb.Dataset(X, y, categorical_feature=[0])  # categorical splits: scored one by one
    boosters.append(lgb.train({**params, "min_data_per_group": 5}, cat, num_boost_round=10))
    for booster in boosters:
        assert np.array_equal(grid_scores(booster, shape), _scores_everywhere(booster, shape))
