"""The generated pipeline: reproducible, consistent with its own history, and realistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from forecast.data.generator import generate_leads, generate_pipeline, write_export, write_leads
from forecast.data.importing import read_export
from forecast.data.mapping import FORECAST_CATEGORIES
from forecast.data.store import OPPORTUNITY_COLUMNS


@pytest.fixture(scope="module")
def pipeline():
    return generate_pipeline(6000, seed=3)


@pytest.fixture(scope="module")
def leads():
    return generate_leads(4000, seed=1)


def test_the_same_seed_gives_the_same_pipeline_and_another_seed_differs():
    a, b = generate_pipeline(500, seed=1), generate_pipeline(500, seed=1)
    pd.testing.assert_frame_equal(a.opportunities, b.opportunities)
    pd.testing.assert_frame_equal(a.history, b.history)
    assert not generate_pipeline(500, seed=2).opportunities.equals(a.opportunities)


def test_deals_have_the_canonical_columns_and_types(pipeline):
    deals = pipeline.opportunities
    assert set(deals.columns) == set(OPPORTUNITY_COLUMNS) - {"dataset"}
    assert deals["id"].is_unique
    for col in ("id", "owner", "stage", "status", "product", "forecast_category"):
        assert pd.api.types.is_string_dtype(deals[col]), col
    for col in ("created_at", "closed_at", "updated_at", "expected_close_at"):
        assert pd.api.types.is_datetime64_dtype(deals[col]) and deals[col].dt.tz is None, col
    assert set(deals["status"]) == {"open", "won", "lost"}
    assert deals["rep_probability"].between(0, 1).all()
    assert set(deals["forecast_category"]) <= set(FORECAST_CATEGORIES)
    assert not deals["amount_estimated"].any() and not deals["created_estimated"].any()
    assert (deals["updated_at"] <= pipeline.as_of).all()


def test_history_agrees_with_each_deal(pipeline):
    deals, history = pipeline.opportunities.set_index("id"), pipeline.history
    assert set(history["opportunity_id"]) == set(deals.index)
    same_deal = history["opportunity_id"].eq(history["opportunity_id"].shift())
    assert (history["entered_at"].diff()[same_deal] > pd.Timedelta(0)).all()  # strictly later
    first = history.groupby("opportunity_id").first()
    last = history.groupby("opportunity_id").last()
    assert (first["entered_at"] == deals.loc[first.index, "created_at"]).all()
    assert (first["stage"] == pipeline.stages.open_stages[0]).all()
    assert (last["stage"] == deals.loc[last.index, "stage"]).all()
    closed = deals[deals["status"] != "open"]
    assert (last.loc[closed.index, "entered_at"] == closed["closed_at"]).all()
    assert history["entered_at"].max() <= pipeline.as_of
    assert deals["created_at"].max() <= pipeline.as_of
    assert deals["closed_at"].isna().eq(deals["status"] == "open").all()


def test_deals_move_through_the_stages_in_order_without_skipping(pipeline):
    stages, history = pipeline.stages, pipeline.history
    order = history["stage"].map({s: stages.order(s) for s in stages.all_stages})
    outcome = history["stage"].isin([stages.won, stages.lost])
    # Open entries are stages 0, 1, 2, ... in turn; an outcome, if any, comes last.
    position = history.groupby("opportunity_id").cumcount()
    assert (order[~outcome] == position[~outcome]).all()
    is_last = ~history["opportunity_id"].eq(history["opportunity_id"].shift(-1))
    assert (is_last[outcome]).all()
    # Deals are lost from every open stage; only deals through the last one are won.
    before = order.shift(1)
    lost_from = before[history["stage"] == stages.lost]
    assert set(lost_from) == set(range(len(stages.open_stages)))
    assert set(before[history["stage"] == stages.won]) == {len(stages.open_stages) - 1}


def test_the_funnel_narrows_and_win_rates_are_sane(pipeline):
    history, deals = pipeline.history, pipeline.opportunities
    reached = [
        history.loc[history["stage"] == s, "opportunity_id"].nunique()
        for s in pipeline.stages.open_stages
    ]
    assert reached == sorted(reached, reverse=True) and reached[-1] < 0.8 * reached[0]
    closed = deals[deals["status"] != "open"]
    assert 0.25 <= (closed["status"] == "won").mean() <= 0.45
    assert (deals["status"] == "open").sum() > 100  # a pipeline to forecast


def test_other_stage_sets_are_honoured():
    from forecast.data.stages import StageSet

    two = StageSet(open_stages=("Prospecting", "Engaging"))
    gen = generate_pipeline(800, seed=2, stages=two)
    assert set(gen.opportunities["stage"]) <= set(two.all_stages)
    assert set(gen.history["stage"]) == set(two.all_stages)


def test_lost_deals_close_faster_than_won_ones(pipeline):
    closed = pipeline.opportunities.dropna(subset=["closed_at"])
    days = (closed["closed_at"] - closed["created_at"]).dt.days
    medians = days.groupby(closed["status"]).median()
    assert medians["lost"] < medians["won"]


def test_more_deals_are_created_and_closed_near_quarter_ends(pipeline):
    deals = pipeline.opportunities

    def days_left(when: pd.Series) -> pd.Series:
        end = pd.PeriodIndex(when, freq="Q").end_time
        return pd.Series((end - when).dt.total_seconds() / 86_400, index=when.index)

    created_late = (days_left(deals["created_at"]) < 21).mean()
    closed = deals["closed_at"].dropna()
    closed_last_days = (days_left(closed) < 3).mean()
    assert created_late > 1.15 * 21 / 91
    assert closed_last_days > 2 * 3 / 91


def test_features_carry_signal_beyond_the_stage(pipeline):
    closed = pipeline.opportunities.query("status != 'open'")
    won = closed["status"] == "won"
    by_owner = won.groupby(closed["owner"]).agg(["mean", "size"])
    assert by_owner["mean"].max() - by_owner["mean"].min() > 0.2
    # Far more spread across owners than coin flips at one shared rate would give.
    rate = won.mean()
    binomial = (rate * (1 - rate) / by_owner["size"]).mean()
    assert by_owner["mean"].var() > 3 * binomial
    by_product = won.groupby(closed["product"]).mean()
    assert by_product.max() - by_product.min() > 0.1
    by_category = won.groupby(closed["forecast_category"]).mean()
    assert by_category["Commit"] > by_category["Pipeline"]


def test_reps_calls_are_biased_but_informative(pipeline):
    closed = pipeline.opportunities.query("status != 'open'")
    won = (closed["status"] == "won").astype(int)
    assert roc_auc_score(won, closed["rep_probability"]) > 0.6
    calibration_gap = (closed["rep_probability"] - won).groupby(closed["owner"]).mean()
    assert calibration_gap.max() > 0.05 and calibration_gap.min() < -0.05  # optimists, sandbaggers
    miss = (closed["expected_close_at"] - closed["closed_at"]).dt.days
    assert miss.abs().median() < 30


def test_amounts_are_positive_and_long_tailed(pipeline):
    amount = pipeline.opportunities["amount"]
    assert (amount > 0).all() and amount.mean() > 2 * amount.median()
    prices = pipeline.opportunities["list_price"]
    assert prices.min() <= 100 and prices.max() >= 20_000


def test_csat_only_on_won_deals(pipeline):
    deals = pipeline.opportunities
    scored = deals[deals["csat"].notna()]
    assert len(scored) > 100 and (scored["status"] == "won").all()
    assert scored["csat"].between(1, 5).all()


def test_the_export_imports_cleanly_and_round_trips(tmp_path):
    small = generate_pipeline(300, seed=5)
    files = write_export(small, tmp_path)
    assert [f.name for f in files] == ["opportunities.csv", "stage_history.csv"]
    assert "status" not in pd.read_csv(files[0], nrows=1).columns
    export = read_export(tmp_path)
    assert export.report.ok and len(export.opportunities) == 300
    got = export.opportunities.set_index("id").loc[small.opportunities["id"]]
    want = small.opportunities.set_index("id")
    for col in ("stage", "status", "owner", "amount", "created_at", "closed_at"):
        pd.testing.assert_series_equal(got[col], want[col], check_dtype=False, check_names=False)
    assert len(export.history) == len(small.history)


def test_leads_are_reproducible(leads):
    pd.testing.assert_frame_equal(leads, generate_leads(4000, seed=1))
    assert not leads.equals(generate_leads(4000, seed=2))
    assert leads["id"].is_unique and set(leads["converted"]) == {0, 1}


def test_leads_carry_signal_and_one_leaking_column(leads):
    assert 0.25 <= leads["converted"].mean() <= 0.45
    by_source = leads.groupby("Lead Source")["converted"].mean()
    assert by_source["Reference"] - by_source["Olark Chat"] > 0.3

    def auc_alone(col: str) -> float:
        """How well the column's own per-value conversion rate ranks the leads."""
        values = leads[col]
        if values.dtype.kind == "f":
            values = pd.qcut(values.rank(method="first"), 10, labels=False)
        rate = leads.groupby(values.astype(str), dropna=False)["converted"].transform("mean")
        return roc_auc_score(leads["converted"], rate)

    attributes = leads.columns.drop(["id", "created_at", "converted", "Tags"])
    assert len(attributes) >= 9
    assert auc_alone("Tags") > 0.97
    assert all(auc_alone(col) < 0.85 for col in attributes)
    assert max(auc_alone(col) for col in attributes) > 0.65  # yet there is signal to learn


def test_leads_are_written_as_csv(leads, tmp_path):
    path = write_leads(leads.head(50), tmp_path / "leads" / "leads.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == list(leads.columns) and len(back) == 50
    assert np.array_equal(back["converted"], leads["converted"].head(50))
