"""The as-of rule for deal rows (what was recorded strictly before t), and lead columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import features as F
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput
from forecast.history import JUST_AFTER, DealHistory, observations_of
from tests.forecast import synthetic

STAGES = StageSet(open_stages=("Prospecting", "Closing"))
T0 = pd.Timestamp("2023-01-01")
T = pd.Timestamp


def _day(d: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


def _tiny(**kw) -> DealHistory:
    """Rep r1: deal A won on day 10, deal B lost on day 20; deal C open from day 5 (won on 60)."""
    opps = pd.DataFrame(
        {
            "id": ["A", "B", "C"],
            "owner": ["r1", "r1", "r1"],
            "account": ["x", "y", "x"],
            "team": "t",
            "region": "E",
            "product": "P",
            "product_series": "S",
            "list_price": [100.0, 100.0, 100.0],
            "amount": [150.0, 90.0, 120.0],
            "amount_estimated": [False, True, False],
            "status": ["won", "lost", "won"],
            "stage": ["Won", "Lost", "Won"],
            "created_at": [_day(0), _day(1), _day(5)],
            "closed_at": [_day(10), _day(20), _day(60)],
            "rep_probability": [0.9, 0.1, 0.9],
            "csat": [5.0, 1.0, 5.0],
        }
    )
    hist = pd.DataFrame(
        {
            "opportunity_id": ["A", "A", "A", "B", "B", "C", "C", "C"],
            "stage": [
                "Prospecting",
                "Closing",
                "Won",
                "Prospecting",
                "Lost",
                "Prospecting",
                "Closing",
                "Won",
            ],
            "entered_at": [
                _day(0),
                _day(4),
                _day(10),
                _day(1),
                _day(20),
                _day(5),
                _day(30),
                _day(60),
            ],
        }
    )
    return DealHistory.from_frames(opps, hist, STAGES, check_leaks=False, **kw)


def _row_at(history: DealHistory, deal: str, at: pd.Timestamp) -> pd.Series:
    points = pd.DataFrame({"id": [deal], "as_of": [at]})
    points["as_of"] = points["as_of"].astype("datetime64[us]")
    rows = F.deal_rows_at(history, points)
    assert len(rows) == 1
    return rows.iloc[0]


def test_a_reps_win_rate_counts_only_deals_closed_strictly_before_the_snapshot() -> None:
    h = _tiny()
    on_close_day = _row_at(h, "C", _day(10))
    assert on_close_day["rep_closed_deals"] == 0  # A closed at that very instant: not yet known
    just_after = _row_at(h, "C", _day(10) + JUST_AFTER)
    assert just_after["rep_closed_deals"] == 1
    after_a = _row_at(h, "C", _day(11))
    assert after_a["rep_closed_deals"] == 1
    after_b = _row_at(h, "C", _day(21))
    assert after_b["rep_closed_deals"] == 2
    assert after_a["rep_win_rate"] > after_b["rep_win_rate"]  # B was lost
    assert after_a["account_closed_deals"] == 1 and after_b["account_closed_deals"] == 1


def test_past_rates_are_smoothed_toward_the_overall_rate() -> None:
    row = _row_at(_tiny(), "C", _day(11))
    # One win, prior of 10 pseudo-deals at the overall rate (1 win of 1: (1+1)/(1+2)).
    overall = 2 / 3
    assert row["rep_win_rate"] == pytest.approx((1 + 10 * overall) / (1 + 10))


def test_stage_age_and_days_in_stage_are_those_of_the_snapshot_date() -> None:
    h = _tiny()
    row = _row_at(h, "C", _day(35))
    assert row["stage"] == "Closing"
    assert row["age_days"] == 30 and row["days_in_stage"] == 5
    assert _row_at(h, "C", _day(29))["stage"] == "Prospecting"


def test_a_stage_entered_at_t_is_not_known_at_t_but_just_after() -> None:
    h = _tiny()
    at = _row_at(h, "C", _day(30))  # C enters Closing at this very instant
    assert at["stage"] == "Prospecting" and at["days_in_stage"] == 25
    after = _row_at(h, "C", _day(30) + JUST_AFTER)
    assert after["stage"] == "Closing" and after["days_in_stage"] == pytest.approx(0, abs=1e-9)
    assert after["stage_index"] == 1 and at["stage_index"] == 0


def test_the_amount_is_the_list_price_where_amounts_are_only_known_at_close() -> None:
    assert _row_at(_tiny(), "C", _day(11))["amount"] == 120.0
    late = _tiny(options={"amount_known_before_close": False})
    assert _row_at(late, "C", _day(11))["amount"] == 100.0


def test_a_field_that_changed_is_seen_at_its_value_then() -> None:
    """Two observations of the amount: 100 seen on 1 January, 300 seen on 1 March."""
    deal = pd.DataFrame(
        {
            "id": ["D"],
            "owner": ["r1"],
            "account": ["x"],
            "list_price": [100.0],
            "amount": [300.0],
            "status": ["won"],
            "stage": ["Won"],
            "created_at": [T("2024-01-01")],
            "closed_at": [T("2024-04-20")],
        }
    )
    log = pd.DataFrame(
        {
            "opportunity_id": ["D", "D", "D"],
            "stage": ["Prospecting", "Closing", "Won"],
            "entered_at": [T("2024-01-01"), T("2024-02-15"), T("2024-04-20")],
        }
    )
    fields = pd.DataFrame(
        {
            "opportunity_id": ["D", "D"],
            "observed_at": [T("2024-01-01"), T("2024-03-01")],
            "amount": [100.0, 300.0],
        }
    )
    h = DealHistory.from_frames(deal, log, STAGES, field_log=fields, check_leaks=False)
    rows = F.deal_training_rows(h, every_days=10)  # 1 March is day 60: a row falls on it
    change = T("2024-03-01")
    before, after = rows[rows["as_of"] < change], rows[rows["as_of"] > change]
    assert len(before) >= 3 and len(after) >= 3
    assert (before["amount"] == 100.0).all()
    assert (after["amount"] == 300.0).all()
    # Observed at that instant: not known yet at it.
    assert rows.loc[rows["as_of"] == change, "amount"].tolist() == [100.0]


def test_a_field_left_out_is_blank_in_model_rows_but_kept_in_the_data() -> None:
    h = _tiny()
    assert (F.deal_training_rows(h)["product"] == "P").all()  # control: the field is read
    out = h.leaving_out(["product", "amount"])
    rows = F.deal_training_rows(out)
    assert len(rows) and rows["product"].isna().all() and rows["amount"].isna().all()
    assert F.open_deal_rows(out, _day(11))["product"].isna().all()
    assert (out.as_of(_day(11))["product"] == "P").all()  # what users see is unchanged


def test_a_field_the_leak_check_catches_is_blank_in_every_model_row() -> None:
    """Product blank on the open deals only (the export filled it at close): left out, so no
    training row reads it, not even those of closed deals where it is filled in."""
    clean = synthetic.deal_history(1200, seed=7)
    assert "product" not in clean.left_out
    assert F.deal_training_rows(clean)["product"].notna().all()
    deals = clean.deals.assign(product=clean.deals["product"].astype(object))
    deals.loc[deals["status"] == "open", "product"] = None
    leaky = DealHistory.from_frames(deals, clean.stage_log, clean.stages)
    assert "product" in leaky.left_out
    rows = F.deal_training_rows(leaky)
    assert len(rows) and rows["product"].isna().all()


def test_a_small_clean_data_set_keeps_its_fields_in_model_rows() -> None:
    h = synthetic.deal_history(150, seed=1)
    # Its attributes do not leak; only the rep probability typed in with hindsight may be caught.
    assert not h.left_out - {"rep_probability"}
    assert F.deal_training_rows(h)["product"].notna().all()


def test_nothing_revealed_at_close_is_a_feature() -> None:
    assert not set(F.DEAL_FEATURES) & F.REVEALED_AT_CLOSE
    rows = F.deal_training_rows(synthetic.deal_history(200))
    assert list(F.deal_features(rows).columns) == list(F.DEAL_FEATURES)


def test_rows_at_a_date_do_not_change_when_the_future_changes() -> None:
    opps, hist, stages, _ = synthetic.deals(300, seed=1)
    t = pd.Timestamp("2022-09-01")
    seen = observations_of(opps.assign(updated_at=opps["created_at"]))  # each seen at creation
    past = DealHistory.from_frames(opps, hist, stages, field_log=seen)
    open_then = F.open_deal_rows(past, t)
    # Rewrite everything from t on: every outcome flipped, closes moved, stage entries and
    # field values recorded at or after t replaced.
    future = opps.copy()
    later = future["closed_at"] >= t
    assert later.any() and (future["created_at"] < t).any()
    future.loc[later, "status"] = np.where(future.loc[later, "status"] == "won", "lost", "won")
    future.loc[later, "closed_at"] = future.loc[later, "closed_at"] + pd.Timedelta(days=3)
    cut_hist = hist[hist["entered_at"] < t]
    assert (hist["entered_at"] == t).any()  # entries at t itself are part of the future
    changed = seen.assign(
        observed_at=t, owner="rep-new", amount=seen["amount"] * 3, product="Basic"
    )
    again = DealHistory.from_frames(
        future, cut_hist, stages, field_log=pd.concat([seen, changed], ignore_index=True)
    )
    cols = list(F.DEAL_FEATURES)
    rows = F.open_deal_rows(again, t)
    assert len(rows) >= 10
    pd.testing.assert_frame_equal(open_then[cols], rows[cols])


def test_training_rows_are_snapshots_while_open_each_weighing_one() -> None:
    h = synthetic.deal_history(300, seed=2)
    rows = F.deal_training_rows(h, every_days=7)
    merged = rows.merge(h.deals[["id", "created_at", "closed_at"]], on="id", suffixes=("", "_o"))
    assert (merged["as_of"] > merged["created_at_o"]).all()  # created at t: unknown at t
    assert (merged["as_of"] < merged["closed_at_o"]).all()
    assert (rows["weight"] == 1.0).all()  # a deal open longer is met more often
    assert rows["won"].notna().all()
    assert set(rows["id"]) <= set(h.deals.loc[h.deals["status"] != "open", "id"])


def test_training_landmarks_sit_just_after_creation_and_each_stage_entry() -> None:
    rows = F.deal_training_rows(_tiny(), every_days=0).set_index("id")
    a = rows.loc[["A"]]
    assert list(a["as_of"]) == [_day(0) + JUST_AFTER, _day(4) + JUST_AFTER]
    assert list(a["stage"]) == ["Prospecting", "Closing"]  # the stage just entered
    assert (a["days_in_stage"] < 1e-9).all()
    assert list(rows.loc[["C"], "as_of"]) == [_day(5) + JUST_AFTER, _day(30) + JUST_AFTER]
    assert list(rows.loc[["B"], "as_of"]) == [_day(1) + JUST_AFTER]
    # Every seven days as well, while open.
    weekly = F.deal_training_rows(_tiny(), every_days=7).set_index("id")
    assert list(weekly.loc[["A"], "as_of"]) == [_day(0) + JUST_AFTER, _day(4) + JUST_AFTER, _day(7)]


def test_a_time_split_trains_on_outcomes_known_before_the_cut_and_tests_after() -> None:
    h = synthetic.deal_history(300, seed=3)
    opps = h.deals
    cut = pd.Timestamp("2022-10-01")
    train = F.deal_training_rows(h, known_before=cut)
    test = F.deal_rows_after(h, cut)
    closes = opps.set_index("id")["closed_at"]
    assert (closes[train["id"].unique()] < cut).all()
    assert (closes[test["id"].unique()] >= cut).all()
    assert (test["as_of"] >= cut).all()
    # Deals open at the cut are seen as of the cut.
    open_at_cut = opps[(opps["created_at"] < cut) & (opps["closed_at"] >= cut)]["id"]
    at_cut = test[test["as_of"] == cut]["id"]
    assert set(open_at_cut) == set(at_cut)
    # A deal created at the cut is not known at it: it is first seen just after.
    born = opps[opps["created_at"] == cut]["id"]
    assert len(born) and not set(born) & set(at_cut)
    first_seen = test.groupby("id")["as_of"].min()
    assert (first_seen[born] == cut + JUST_AFTER).all()
    assert (test["weight"] == 1.0).all()


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
        DealHistory.from_frames(
            pd.DataFrame({"id": [], "status": [], "created_at": []}),
            pd.DataFrame({"opportunity_id": [], "stage": [], "entered_at": []}),
            STAGES,
        )


def test_model_inputs_leave_out_the_left_out_fields_and_what_derives_from_them() -> None:
    names = F.model_features(frozenset({"account", "sector"}))
    assert "sector" not in names and "account_win_rate" not in names
    assert "account_closed_deals" not in names and "rep_win_rate" in names
    assert F.model_features() == list(F.DEAL_FEATURES)
