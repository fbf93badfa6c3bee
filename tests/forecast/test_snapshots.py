"""Snapshots: the pipeline as it stood on a past date, and nothing known later."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.importing import read_export
from forecast.snapshots import open_pipeline, snapshot
from forecast.stages import DEFAULT_STAGES

T = pd.Timestamp


@pytest.fixture
def deals() -> tuple[pd.DataFrame, pd.DataFrame]:
    opps = pd.DataFrame({
        "id": ["A", "B", "C"],
        "stage": ["Won", "Demonstration", "Lost"],
        "status": ["won", "open", "lost"],
        "created_at": [T("2024-01-01"), T("2024-02-01"), T("2024-03-15")],
        "closed_at": [T("2024-03-01"), pd.NaT, T("2024-04-01")],
        "amount": [1000.0, 500.0, float("nan")],
        "list_price": [900.0, 450.0, 300.0],
        "amount_estimated": [False, False, True],
    })
    history = pd.DataFrame({
        "opportunity_id": ["A", "A", "A", "B", "B", "C", "C"],
        "stage": ["Prospecting", "Qualification", "Won", "Prospecting", "Demonstration",
                  "Prospecting", "Lost"],
        "entered_at": [T("2024-01-01"), T("2024-01-20"), T("2024-03-01"), T("2024-02-01"),
                       T("2024-02-20"), T("2024-03-15"), T("2024-04-01")],
    })
    return opps, history


def test_a_deal_won_later_is_open_in_an_earlier_snapshot(deals):
    opps, history = deals
    snap = snapshot(opps, history, DEFAULT_STAGES, "2024-02-10").set_index("id")
    assert snap.loc["A", "stage"] == "Qualification" and snap.loc["A", "is_open"]
    assert pd.isna(snap.loc["A", "closed_at"])  # the close is not known yet
    assert snap.loc["A", "days_in_stage"] == 21 and snap.loc["A", "age_days"] == 40


def test_a_deal_created_later_is_absent(deals):
    opps, history = deals
    snap = snapshot(opps, history, DEFAULT_STAGES, "2024-02-10")
    assert set(snap["id"]) == {"A", "B"}


def test_closed_deals_show_their_outcome_after_the_close(deals):
    opps, history = deals
    snap = snapshot(opps, history, DEFAULT_STAGES, "2024-04-02").set_index("id")
    assert snap.loc["A", "status"] == "won" and snap.loc["C", "status"] == "lost"
    assert snap.loc["B", "stage"] == "Demonstration" and snap.loc["B", "is_open"]


def test_a_stage_entered_on_the_as_of_date_counts(deals):
    opps, history = deals
    snap = snapshot(opps, history, DEFAULT_STAGES, "2024-02-20").set_index("id")
    assert snap.loc["B", "stage"] == "Demonstration" and snap.loc["B", "days_in_stage"] == 0


def test_amounts_only_known_at_close_are_the_list_price_while_open(deals):
    opps, history = deals
    snap = snapshot(opps, history, DEFAULT_STAGES, "2024-02-10",
                    amount_known_before_close=False).set_index("id")
    assert snap.loc["A", "amount"] == 900.0 and snap.loc["A", "amount_estimated"]
    later = snapshot(opps, history, DEFAULT_STAGES, "2024-03-02",
                     amount_known_before_close=False).set_index("id")
    assert later.loc["A", "amount"] == 1000.0


def test_open_pipeline_keeps_only_open_deals(deals):
    opps, history = deals
    assert set(open_pipeline(opps, history, DEFAULT_STAGES, "2024-03-20")["id"]) == {"B", "C"}


@pytest.mark.slow
def test_shared_data_snapshot_reopens_deals_closed_after_the_date(shared_opportunities):
    export = read_export(shared_opportunities)
    opps, history, stages = export.opportunities, export.history, export.stages
    as_of = T("2017-06-30")
    snap = snapshot(opps, history, stages, as_of).set_index("id")
    closed_later = opps[(opps["closed_at"] > as_of) & (opps["created_at"] <= as_of)]["id"]
    assert len(closed_later) > 500
    assert snap.loc[closed_later, "is_open"].all()
    assert (snap.loc[closed_later, "stage"] == "Engaging").all()
    # Independent count from the raw file: engaged by the date, not closed by it.
    raw = pd.read_csv(shared_opportunities / "sales_pipeline.csv",
                      parse_dates=["engage_date", "close_date"])
    engaged = raw["engage_date"] <= as_of
    still_open = engaged & ~(raw["close_date"] <= as_of)
    assert int(snap["is_open"].sum()) == int(still_open.sum())
    won_by_then = engaged & (raw["close_date"] <= as_of) & (raw["deal_stage"] == "Won")
    assert int((snap["status"] == "won").sum()) == int(won_by_then.sum())
    # The 500 undated prospects first appear at the export date.
    assert "Prospecting" not in set(snap["stage"])
    final = snapshot(opps, history, stages, "2017-12-31")
    assert (final["stage"] == "Prospecting").sum() == 500


def test_a_date_before_any_stage_entry_gives_deals_in_the_first_stage(deals):
    opps, history = deals
    early = history.assign(entered_at=history["entered_at"] + pd.Timedelta(days=30))
    snap = snapshot(opps, early, DEFAULT_STAGES, "2024-01-15")
    assert list(snap["stage"]) == ["Prospecting"] and snap["is_open"].all()
