"""The as-of rule for deal rows, and lead column preparation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import features as F
from forecast.errors import InvalidInput
from forecast.stages import StageSet
from tests.forecast import synthetic

STAGES = StageSet(open_stages=("Prospecting", "Closing"))
T0 = pd.Timestamp("2023-01-01")


def _day(d: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


def _tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rep r1: deal A won on day 10, deal B lost on day 20; deal C open from day 5."""
    opps = pd.DataFrame({
        "id": ["A", "B", "C"], "owner": ["r1", "r1", "r1"], "account": ["x", "y", "x"],
        "team": "t", "region": "E", "product": "P", "product_series": "S",
        "list_price": [100.0, 100.0, 100.0], "amount": [150.0, 90.0, 120.0],
        "amount_estimated": [False, True, False],
        "status": ["won", "lost", "won"], "stage": ["Won", "Lost", "Won"],
        "created_at": [_day(0), _day(1), _day(5)],
        "closed_at": [_day(10), _day(20), _day(60)],
        "rep_probability": [0.9, 0.1, 0.9], "csat": [5.0, 1.0, 5.0],
    })
    hist = pd.DataFrame({
        "opportunity_id": ["A", "A", "A", "B", "B", "C", "C", "C"],
        "stage": ["Prospecting", "Closing", "Won", "Prospecting", "Lost",
                  "Prospecting", "Closing", "Won"],
        "entered_at": [_day(0), _day(4), _day(10), _day(1), _day(20),
                       _day(5), _day(30), _day(60)],
    })
    return opps, hist


def _rows_at(opps: pd.DataFrame, hist: pd.DataFrame, deal: str, day: int, **kw) -> pd.Series:
    points = pd.DataFrame({"id": [deal], "as_of": [_day(day)]})
    points["as_of"] = points["as_of"].astype("datetime64[us]")
    return F.deal_rows_at(opps, hist, STAGES, points, **kw).iloc[0]


def test_a_reps_win_rate_counts_only_deals_closed_strictly_before_the_snapshot() -> None:
    opps, hist = _tiny()
    on_close_day = _rows_at(opps, hist, "C", 10)
    assert on_close_day["rep_closed_deals"] == 0  # A closed that very day: not yet known
    after_a = _rows_at(opps, hist, "C", 11)
    assert after_a["rep_closed_deals"] == 1
    after_b = _rows_at(opps, hist, "C", 21)
    assert after_b["rep_closed_deals"] == 2
    assert after_a["rep_win_rate"] > after_b["rep_win_rate"]  # B was lost
    assert after_a["account_closed_deals"] == 1 and after_b["account_closed_deals"] == 1


def test_past_rates_are_smoothed_toward_the_overall_rate() -> None:
    opps, hist = _tiny()
    row = _rows_at(opps, hist, "C", 11)
    # One win, prior of 10 pseudo-deals at the overall rate (1 win of 1: (1+1)/(1+2)).
    overall = 2 / 3
    assert row["rep_win_rate"] == pytest.approx((1 + 10 * overall) / (1 + 10))


def test_stage_age_and_days_in_stage_are_those_of_the_snapshot_date() -> None:
    opps, hist = _tiny()
    row = _rows_at(opps, hist, "C", 35)
    assert row["stage"] == "Closing"
    assert row["age_days"] == 30 and row["days_in_stage"] == 5
    assert _rows_at(opps, hist, "C", 29)["stage"] == "Prospecting"


def test_the_amount_is_the_list_price_where_amounts_are_only_known_at_close() -> None:
    opps, hist = _tiny()
    assert _rows_at(opps, hist, "C", 11)["amount"] == 120.0
    assert _rows_at(opps, hist, "C", 11, amount_known_before_close=False)["amount"] == 100.0


def test_nothing_revealed_at_close_is_a_feature() -> None:
    assert not set(F.DEAL_FEATURES) & F.REVEALED_AT_CLOSE
    opps, hist, stages, _ = synthetic.deals(200)
    rows = F.deal_training_rows(opps, hist, stages)
    assert list(F.deal_features(rows).columns) == list(F.DEAL_FEATURES)


def test_rows_at_a_date_do_not_change_when_the_future_changes() -> None:
    opps, hist, stages, _ = synthetic.deals(300, seed=1)
    t = pd.Timestamp("2022-09-01")
    open_then = F.open_deal_rows(opps, hist, stages, t)
    # Rewrite everything after t: every outcome flipped, closes moved, later history dropped.
    future = opps.copy()
    later = future["closed_at"] >= t
    future.loc[later, "status"] = np.where(future.loc[later, "status"] == "won", "lost", "won")
    future.loc[later, "closed_at"] = future.loc[later, "closed_at"] + pd.Timedelta(days=3)
    cut_hist = hist[hist["entered_at"] <= t]
    again = F.open_deal_rows(future, cut_hist, stages, t)
    cols = list(F.DEAL_FEATURES)
    pd.testing.assert_frame_equal(open_then[cols], again[cols])


def test_training_rows_are_snapshots_while_open_each_deal_weighing_one() -> None:
    opps, hist, stages, _ = synthetic.deals(300, seed=2)
    rows = F.deal_training_rows(opps, hist, stages, every_days=7)
    merged = rows.merge(opps[["id", "created_at", "closed_at"]], on="id", suffixes=("", "_o"))
    assert (merged["as_of"] >= merged["created_at_o"]).all()
    assert (merged["as_of"] < merged["closed_at_o"]).all()
    assert rows.groupby("id")["weight"].sum().to_numpy() == pytest.approx(1.0)
    assert rows["won"].notna().all()
    assert set(rows["id"]) <= set(opps.loc[opps["status"] != "open", "id"])


def test_a_time_split_trains_on_outcomes_known_before_the_cut_and_tests_after() -> None:
    opps, hist, stages, _ = synthetic.deals(300, seed=3)
    cut = pd.Timestamp("2022-10-01")
    train = F.deal_training_rows(opps, hist, stages, known_before=cut)
    test = F.deal_rows_after(opps, hist, stages, cut)
    closes = opps.set_index("id")["closed_at"]
    assert (closes[train["id"].unique()] < cut).all()
    assert (closes[test["id"].unique()] >= cut).all()
    assert (test["as_of"] >= cut).all()
    # Deals open at the cut (or created on it) are seen as of the cut.
    open_at_cut = opps[(opps["created_at"] <= cut) & (opps["closed_at"] >= cut)]["id"]
    at_cut = test[test["as_of"] == cut]["id"]
    assert set(open_at_cut) == set(at_cut)
    assert test.groupby("id")["weight"].sum().to_numpy() == pytest.approx(1.0)


def test_leads_lose_leak_columns_by_default_and_keep_them_on_request() -> None:
    leads = synthetic.leads(300)
    X, cols = F.prepare_leads(leads, ["Tags"])
    assert "Tags" not in X and cols.leaks_excluded == ["Tags"]
    assert not {"id", "converted"} & set(X.columns)
    X2, _ = F.prepare_leads(leads, ["Tags"], include_leaks=True)
    assert "Tags" in X2


def test_leads_drop_identifiers_and_single_valued_columns_and_read_numbers_in_text() -> None:
    leads = synthetic.leads(300)
    leads["Lead Number"] = np.arange(300) + 660_000
    leads["Magazine"] = "No"
    leads["Score"] = leads["TotalVisits"].astype(str)
    X, cols = F.prepare_leads(leads)
    assert cols.identifiers == ["Lead Number"] and cols.constant == ["Magazine"]
    assert X["Score"].dtype == float


def test_missing_columns_are_named() -> None:
    with pytest.raises(InvalidInput, match="closed_at"):
        F.deal_training_rows(pd.DataFrame({"id": [], "status": [], "created_at": []}),
                             pd.DataFrame({"opportunity_id": [], "stage": [], "entered_at": []}),
                             STAGES)
