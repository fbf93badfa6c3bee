"""Deals at risk: what gets flagged and why, judged only on what was known at the as-of date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.errors import InvalidInput
from forecast.models import select_scorer
from forecast.risk import (
    FALLING_PROBABILITY,
    LOW_PROBABILITY,
    STUCK,
    data_now,
    deals_at_risk,
    stage_stay_quantiles,
)
from tests.forecast import synthetic


@pytest.fixture(scope="module")
def data():
    opps, hist, stages, end = synthetic.deals(600, seed=3)
    return opps, hist, stages, end


def add_deal(opps, hist, *, id, stage, created, entries, amount, team="team0"):  # noqa: A002
    """An open deal with the given stage entries [(stage, when), ...]."""
    row = opps.iloc[[0]].copy()
    row["id"], row["stage"], row["status"] = id, stage, "open"
    row["created_at"] = pd.Timestamp(created)
    row["closed_at"] = pd.Series([pd.NaT], index=row.index, dtype="datetime64[us]")
    row["amount"] = row["list_price"] = float(amount)
    row["team"] = team
    extra = pd.DataFrame([(id, s, pd.Timestamp(t)) for s, t in entries],
                         columns=["opportunity_id", "stage", "entered_at"])
    return (pd.concat([opps, row], ignore_index=True),
            pd.concat([hist, extra], ignore_index=True))


def served(rates: dict[str, float]) -> scoring.Served:
    return scoring.Served(scoring.DEAL, select_scorer(None, stage_rates=rates), None, "fallback")


def test_usual_time_in_stage_counts_only_stays_that_had_ended():
    hist = pd.DataFrame({
        "opportunity_id": [f"d{i}" for i in range(10) for _ in (0, 1)] + ["late", "late"],
        "stage": ["A", "B"] * 10 + ["A", "B"],
        "entered_at": [t for i in range(10) for t in (pd.Timestamp("2024-01-01"),
                                                      pd.Timestamp("2024-01-01")
                                                      + pd.Timedelta(days=i + 1))]
        + [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-01")],
    })
    from forecast.stages import StageSet

    stages = StageSet(open_stages=("A", "B"))
    q = stage_stay_quantiles(hist, stages, "2024-06-01", q=0.9, min_stays=5)
    assert q["A"] == pytest.approx(np.quantile(np.arange(1, 11), 0.9))  # "late" still in A
    assert q["B"] is None  # no stay in B has ended


def test_a_deal_far_longer_in_its_stage_than_usual_is_stuck_whatever_its_value(data):
    opps, hist, stages, end = data
    opps, hist = add_deal(opps, hist, id="STALE", stage="Qualification", amount=1.0,
                          created=end - pd.Timedelta(days=400),
                          entries=[("Prospecting", end - pd.Timedelta(days=400)),
                                   ("Qualification", end - pd.Timedelta(days=390))])
    opps, hist = add_deal(opps, hist, id="FRESH", stage="Qualification", amount=1.0,
                          created=end - pd.Timedelta(days=3),
                          entries=[("Prospecting", end - pd.Timedelta(days=3)),
                                   ("Qualification", end - pd.Timedelta(days=1))])
    report = deals_at_risk(opps, hist, stages, as_of=end, limit=500)
    flagged = {d["id"]: d for d in report.deals}
    assert flagged["STALE"]["flags"] == [STUCK]
    usual = report.stuck_after_days["Qualification"]
    assert flagged["STALE"]["days_in_stage"] > usual
    assert f"90% of deals move on within {usual:.0f}" in flagged["STALE"]["why"][0]
    assert "FRESH" not in flagged


def test_a_high_value_deal_with_a_low_probability_is_flagged_with_the_scorers_reasons(data):
    opps, hist, stages, end = data
    opps, hist = add_deal(opps, hist, id="BIG", stage="Prospecting", amount=1e6,
                          created=end - pd.Timedelta(days=2),
                          entries=[("Prospecting", end - pd.Timedelta(days=2))])
    rates = {"Prospecting": 0.05, "Qualification": 0.5, "Closing": 0.9}
    report = deals_at_risk(opps, hist, stages, as_of=end, served=served(rates))
    top = report.deals[0]
    assert top["id"] == "BIG" and LOW_PROBABILITY in top["flags"]
    assert top["probability"] == pytest.approx(0.05)
    assert top["value_at_stake"] == pytest.approx(1e6 * 0.95)
    assert "Stage = Prospecting" in top["reasons_for"][0]["sentence"]
    assert report.method == "stage_win_rate"


def test_a_probability_that_fell_within_the_lookback_is_flagged(data):
    opps, hist, stages, end = data
    opps, hist = add_deal(opps, hist, id="SLIP", stage="Qualification", amount=1e6,
                          created=end - pd.Timedelta(days=90),
                          entries=[("Prospecting", end - pd.Timedelta(days=90)),
                                   ("Closing", end - pd.Timedelta(days=60)),
                                   ("Qualification", end - pd.Timedelta(days=5))])
    rates = {"Prospecting": 0.2, "Qualification": 0.5, "Closing": 0.9}
    report = deals_at_risk(opps, hist, stages, as_of=end, served=served(rates),
                           lookback_days=28)
    slip = next(d for d in report.deals if d["id"] == "SLIP")
    assert FALLING_PROBABILITY in slip["flags"]
    assert slip["probability_before"] == pytest.approx(0.9)
    assert slip["probability"] == pytest.approx(0.5)
    assert "close probability fell from 90% to 50% in 28 days" in slip["why"]


def test_the_list_is_judged_on_what_was_known_at_the_as_of_date(data):
    opps, hist, stages, end = data
    t = end - pd.Timedelta(days=120)
    report = deals_at_risk(opps, hist, stages, as_of=t, limit=1000)
    ids = {d["id"] for d in report.deals}
    created = opps.set_index("id")["created_at"]
    assert all(created[i] < t for i in ids)  # nothing created later
    closed_later = opps[(opps["status"] != "open") & (opps["closed_at"] >= t)
                        & (opps["created_at"] < t)]
    # deals won or lost after t were open at t, so they may be on it; none closed before t is
    closed_before = set(opps.loc[(opps["status"] != "open") & (opps["closed_at"] < t), "id"])
    assert not ids & closed_before
    assert report.open_deals >= len(closed_later)


def test_a_teams_list_is_its_part_of_the_full_list(data):
    opps, hist, stages, end = data
    full = deals_at_risk(opps, hist, stages, as_of=end, limit=1000)
    team = deals_at_risk(opps, hist, stages, as_of=end, team="team1", limit=1000)
    assert team.high_value_from == full.high_value_from
    assert [d["id"] for d in team.deals] == [d["id"] for d in full.deals
                                              if d["team"] == "team1"]


def test_without_a_model_the_report_says_it_used_stage_win_rates(data):
    opps, hist, stages, end = data
    report = deals_at_risk(opps, hist, stages, as_of=end).to_dict()
    assert report["method"] == "stage_win_rate"
    assert any("no deal model" in n for n in report["notes"])
    assert set(report["thresholds"]) >= {"high_value_from", "low_probability_below",
                                         "stuck_after_days"}


def test_now_is_the_day_after_an_export_ends_or_today(data):
    from forecast.timing import data_end

    opps, hist, _, _ = data
    last = data_end(opps, hist)
    assert data_now(opps, hist, today="2100-01-01") == last.normalize() + pd.Timedelta(days=1)
    earlier = last - pd.Timedelta(days=10)
    assert data_now(opps, hist, today=earlier) == earlier


def test_bad_input_is_named(data):
    opps, hist, stages, end = data
    with pytest.raises(InvalidInput, match="as_of"):
        deals_at_risk(opps, hist, stages, as_of="not a date")
    with pytest.raises(InvalidInput, match="team 'nobody'"):
        deals_at_risk(opps, hist, stages, as_of=end, team="nobody")
    with pytest.raises(InvalidInput, match="limit"):
        deals_at_risk(opps, hist, stages, as_of=end, limit=0)
