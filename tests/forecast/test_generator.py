"""The generated pipeline: reproducible, consistent with its own history, and realistic."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.generator import generate_leads, generate_pipeline, write_export
from forecast.importing import read_export
from forecast.store import OPPORTUNITY_COLUMNS


@pytest.fixture(scope="module")
def pipeline():
    return generate_pipeline(6000, seed=3)


def test_the_same_seed_gives_the_same_pipeline_and_another_seed_differs():
    a, b = generate_pipeline(500, seed=1), generate_pipeline(500, seed=1)
    pd.testing.assert_frame_equal(a.opportunities, b.opportunities)
    pd.testing.assert_frame_equal(a.history, b.history)
    assert not generate_pipeline(500, seed=2).opportunities.equals(a.opportunities)


def test_deals_have_the_canonical_columns(pipeline):
    assert set(pipeline.opportunities.columns) == set(OPPORTUNITY_COLUMNS) - {"dataset"}


def test_history_agrees_with_each_deal(pipeline):
    deals, history = pipeline.opportunities.set_index("id"), pipeline.history
    assert history.groupby("opportunity_id")["entered_at"].apply(
        lambda s: s.is_monotonic_increasing).all()
    first = history.groupby("opportunity_id").first()
    last = history.groupby("opportunity_id").last()
    assert (first["entered_at"] == deals.loc[first.index, "created_at"]).all()
    assert (first["stage"] == "Prospecting").all()
    assert (last["stage"] == deals.loc[last.index, "stage"]).all()
    closed = deals[deals["status"] != "open"]
    assert (last.loc[closed.index, "entered_at"] == closed["closed_at"]).all()
    assert history["entered_at"].max() <= pipeline.as_of
    assert deals["closed_at"].isna().eq(deals["status"] == "open").all()


def test_the_funnel_narrows_and_win_rates_are_sane(pipeline):
    history, deals = pipeline.history, pipeline.opportunities
    reached = [history.loc[history["stage"] == s, "opportunity_id"].nunique()
               for s in pipeline.stages.open_stages]
    assert reached == sorted(reached, reverse=True) and reached[-1] < 0.8 * reached[0]
    closed = deals[deals["status"] != "open"]
    assert 0.25 <= (closed["status"] == "won").mean() <= 0.45
    assert (deals["status"] == "open").sum() > 100  # a pipeline to forecast


def test_lost_deals_close_faster_than_won_ones(pipeline):
    closed = pipeline.opportunities.dropna(subset=["closed_at"])
    days = (closed["closed_at"] - closed["created_at"]).dt.days
    medians = days.groupby(closed["status"]).median()
    assert medians["lost"] < medians["won"]


def test_features_carry_signal_beyond_the_stage(pipeline):
    closed = pipeline.opportunities.query("status != 'open'")
    by_owner = closed.groupby("owner")["status"].apply(lambda s: (s == "won").mean())
    assert by_owner.max() - by_owner.min() > 0.2
    by_category = closed.groupby("forecast_category")["status"].apply(
        lambda s: (s == "won").mean())
    assert by_category["Commit"] > by_category["Pipeline"]


def test_amounts_are_positive_and_long_tailed(pipeline):
    amount = pipeline.opportunities["amount"]
    assert (amount > 0).all() and amount.mean() > 2 * amount.median()


def test_csat_only_on_won_deals(pipeline):
    deals = pipeline.opportunities
    scored = deals[deals["csat"].notna()]
    assert len(scored) > 100 and (scored["status"] == "won").all()
    assert scored["csat"].between(1, 5).all()


def test_the_export_imports_cleanly(pipeline, tmp_path):
    small = generate_pipeline(300, seed=5)
    write_export(small, tmp_path)
    export = read_export(tmp_path)
    assert export.report.ok and len(export.opportunities) == 300
    assert len(export.history) == len(small.history)


def test_leads_carry_signal_and_a_leaking_column():
    leads = generate_leads(4000, seed=1)
    assert 0.25 <= leads["converted"].mean() <= 0.45
    by_tag = leads.groupby("Tags")["converted"].mean()
    assert by_tag["Closed by sales"] == 1.0 and by_tag["Ringing"] == 0.0
    by_source = leads.groupby("Lead Source")["converted"].mean()
    assert by_source["Reference"] - by_source["Olark Chat"] > 0.3
