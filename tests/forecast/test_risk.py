"""Deals at risk: what gets flagged and why, judged only on what was known at the as-of date
(recorded strictly before it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput, UnknownGroup
from forecast.history import JUST_AFTER, DealHistory
from forecast.modeling.scorers import select_scorer
from forecast.risk import (
    FALLING_PROBABILITY,
    LOW_PROBABILITY,
    PAST_EXPECTED_CLOSE,
    STUCK,
    deals_at_risk,
    stage_stay_quantiles,
)
from forecast.settings import Settings
from tests.forecast import synthetic


@pytest.fixture(scope="module")
def data():
    opps, hist, stages, end = synthetic.deals(600, seed=3)
    return opps, hist, stages, end


def history_of(opps: pd.DataFrame, hist: pd.DataFrame, stages: StageSet) -> DealHistory:
    """Generated frames as one `DealHistory` (no export-state leak check: not what is tested)."""
    return DealHistory.from_frames(opps, hist, stages, check_leaks=False)


@pytest.fixture(scope="module")
def history(data) -> DealHistory:
    opps, hist, stages, _ = data
    return history_of(opps, hist, stages)


def add_deal(opps, hist, *, id, stage, created, entries, amount, team="team0"):  # noqa: A002
    """An open deal with the given stage entries [(stage, when), ...]."""
    row = opps.iloc[[0]].copy()
    row["id"], row["stage"], row["status"] = id, stage, "open"
    row["created_at"] = pd.Timestamp(created)
    row["closed_at"] = pd.Series([pd.NaT], index=row.index, dtype="datetime64[us]")
    row["amount"] = row["list_price"] = float(amount)
    row["team"] = team
    extra = pd.DataFrame(
        [(id, s, pd.Timestamp(t)) for s, t in entries],
        columns=["opportunity_id", "stage", "entered_at"],
    )
    return (pd.concat([opps, row], ignore_index=True), pd.concat([hist, extra], ignore_index=True))


def served(rates: dict[str, float]) -> scoring.Served:
    return scoring.Served(scoring.DEAL, select_scorer(None, stage_rates=rates), None, "fallback")


def test_usual_time_in_stage_counts_only_stays_that_had_ended():
    # d0..d9 stay i + 1 days in A (their stays end 2024-01-02 .. 2024-01-11); "late" leaves A
    # only on 2024-12-01.
    start = pd.Timestamp("2024-01-01")
    hist = pd.DataFrame(
        {
            "opportunity_id": [f"d{i}" for i in range(10) for _ in (0, 1)] + ["late", "late"],
            "stage": ["A", "B"] * 10 + ["A", "B"],
            "entered_at": [t for i in range(10) for t in (start, start + pd.Timedelta(days=i + 1))]
            + [start, pd.Timestamp("2024-12-01")],
        }
    )
    ids = [f"d{i}" for i in range(10)] + ["late"]
    deals = pd.DataFrame(
        {"id": ids, "created_at": start, "stage": "B", "status": "open", "closed_at": pd.NaT}
    )
    stages = StageSet(open_stages=("A", "B"))
    history = DealHistory.from_frames(deals, hist, stages, check_leaks=False)
    q = stage_stay_quantiles(history, "2024-06-01", q=0.9, min_stays=5)
    assert q["A"] == pytest.approx(np.quantile(np.arange(1, 11), 0.9))  # "late" still in A
    assert q["B"] is None  # no stay in B has ended
    # A stay that ends at the as-of instant has not ended yet then (d8's, on 2024-01-10).
    at = stage_stay_quantiles(history, "2024-01-10", q=1.0, min_stays=1)
    assert at["A"] == 8.0
    after = stage_stay_quantiles(
        history, pd.Timestamp("2024-01-10") + JUST_AFTER, q=1.0, min_stays=1
    )
    assert after["A"] == 9.0


def test_a_deal_far_longer_in_its_stage_than_usual_is_stuck_whatever_its_value(data):
    opps, hist, stages, end = data
    opps, hist = add_deal(
        opps,
        hist,
        id="STALE",
        stage="Qualification",
        amount=1.0,
        created=end - pd.Timedelta(days=400),
        entries=[
            ("Prospecting", end - pd.Timedelta(days=400)),
            ("Qualification", end - pd.Timedelta(days=390)),
        ],
    )
    opps, hist = add_deal(
        opps,
        hist,
        id="FRESH",
        stage="Qualification",
        amount=1.0,
        created=end - pd.Timedelta(days=3),
        entries=[
            ("Prospecting", end - pd.Timedelta(days=3)),
            ("Qualification", end - pd.Timedelta(days=1)),
        ],
    )
    report = deals_at_risk(history_of(opps, hist, stages), as_of=end, limit=500)
    flagged = {d["id"]: d for d in report.deals}
    assert flagged["STALE"]["flags"] == [STUCK]
    usual = report.stuck_after_days["Qualification"]
    assert flagged["STALE"]["days_in_stage"] > usual
    # Every number in the reason says its unit: days in the stage, days of the usual stay.
    assert flagged["STALE"]["why"] == [
        "390 days in Qualification, longer than 90% of past stays in Qualification lasted "
        f"({usual:.0f} days)"
    ]
    assert "FRESH" not in flagged


def test_a_high_value_deal_with_a_low_probability_is_flagged_with_the_scorers_reasons(data):
    opps, hist, stages, end = data
    opps, hist = add_deal(
        opps,
        hist,
        id="BIG",
        stage="Prospecting",
        amount=1e6,
        created=end - pd.Timedelta(days=2),
        entries=[("Prospecting", end - pd.Timedelta(days=2))],
    )
    rates = {"Prospecting": 0.05, "Qualification": 0.5, "Closing": 0.9}
    report = deals_at_risk(history_of(opps, hist, stages), as_of=end, served=served(rates))
    top = report.deals[0]
    assert top["id"] == "BIG" and LOW_PROBABILITY in top["flags"]
    assert top["probability"] == pytest.approx(0.05)
    assert top["value_at_stake"] == pytest.approx(1e6 * 0.95)
    assert "Stage = Prospecting" in top["reasons_for"][0]["sentence"]
    assert report.method == "stage_win_rate"
    # The reason says what the threshold is: half the win rate of the deals closed so far.
    win_rate = (opps["status"] == "won").sum() / opps["status"].isin(["won", "lost"]).sum()
    assert top["why"][0] == (
        f"close probability 5%, under {win_rate / 2:.0%} "
        f"(half the {win_rate:.0%} win rate of the deals closed so far)"
    )


def test_a_probability_that_fell_within_the_lookback_is_flagged(data):
    opps, hist, stages, end = data
    opps, hist = add_deal(
        opps,
        hist,
        id="SLIP",
        stage="Qualification",
        amount=1e6,
        created=end - pd.Timedelta(days=90),
        entries=[
            ("Prospecting", end - pd.Timedelta(days=90)),
            ("Closing", end - pd.Timedelta(days=60)),
            ("Qualification", end - pd.Timedelta(days=5)),
        ],
    )
    rates = {"Prospecting": 0.2, "Qualification": 0.5, "Closing": 0.9}
    report = deals_at_risk(
        history_of(opps, hist, stages), as_of=end, served=served(rates), lookback_days=28
    )
    slip = next(d for d in report.deals if d["id"] == "SLIP")
    assert FALLING_PROBABILITY in slip["flags"]
    assert slip["probability_before"] == pytest.approx(0.9)
    assert slip["probability"] == pytest.approx(0.5)
    assert "close probability fell from 90% to 50% in 28 days" in slip["why"]


def test_the_list_is_judged_on_what_was_known_at_the_as_of_date(data, history):
    opps, hist, stages, end = data
    t = end - pd.Timedelta(days=120)
    report = deals_at_risk(history, as_of=t, limit=1000)
    ids = {d["id"] for d in report.deals}
    created = opps.set_index("id")["created_at"]
    assert all(created[i] < t for i in ids)  # nothing created later
    closed_later = opps[
        (opps["status"] != "open") & (opps["closed_at"] >= t) & (opps["created_at"] < t)
    ]
    # deals won or lost after t were open at t, so they may be on it; none closed before t is
    closed_before = set(opps.loc[(opps["status"] != "open") & (opps["closed_at"] < t), "id"])
    assert not ids & closed_before
    assert report.open_deals >= len(closed_later)
    # Open at t: created strictly before t (one deal created at t is not there yet), not closed
    # before t.
    assert (opps["created_at"] == t).any()
    open_then = (opps["created_at"] < t) & ~(opps["closed_at"] < t)
    assert report.open_deals == int(open_then.sum())


def busy(end: pd.Timestamp) -> dict:
    """A date with a few dozen open deals, and a bar that flags every high-value one."""
    return {"as_of": end - pd.Timedelta(days=60), "low_probability": 0.99, "limit": 1000}


def test_a_teams_list_is_its_part_of_the_full_list(data, history):
    full = deals_at_risk(history, **busy(data[3]))
    team = deals_at_risk(history, team="team1", **busy(data[3]))
    assert {d["team"] for d in full.deals} == {"team0", "team1"}
    assert team.high_value_from == full.high_value_from
    assert [d["id"] for d in team.deals] == [d["id"] for d in full.deals if d["team"] == "team1"]


def test_fields_left_out_of_the_model_are_still_shown_and_filtered_on(data, history):
    opps, _, _, end = data
    hidden = history.leaving_out(["account", "team"])  # as the export-state leak check does
    report = deals_at_risk(hidden, **busy(end))
    accounts, teams = opps.set_index("id")["account"], opps.set_index("id")["team"]
    assert report.deals
    assert all(d["account"] == accounts[d["id"]] for d in report.deals)
    assert all(d["team"] == teams[d["id"]] for d in report.deals)
    team = deals_at_risk(hidden, team="team1", **busy(end))
    assert [d["id"] for d in team.deals] == [d["id"] for d in report.deals if d["team"] == "team1"]
    assert team.deals and len(team.deals) < len(report.deals)


def test_without_a_model_the_report_says_it_used_stage_win_rates(data, history):
    report = deals_at_risk(history, as_of=data[3]).to_dict()
    assert report["method"] == "stage_win_rate"
    assert any("no deal model" in n for n in report["notes"])
    assert set(report["thresholds"]) >= {
        "high_value_from",
        "low_probability_below",
        "stuck_after_days",
    }


def test_now_is_the_day_after_an_export_ends_or_today(data, history):
    opps, hist, _, _ = data
    last = max(opps["created_at"].max(), opps["closed_at"].max(), hist["entered_at"].max())
    # The export's own date where later: its newest `updated_at`.
    last = max(last, opps["updated_at"].max())
    assert history.now(today="2100-01-01") == last.normalize() + pd.Timedelta(days=1)
    earlier = last - pd.Timedelta(days=10)
    assert history.now(today=earlier) == earlier


def test_bad_input_is_named(data, history):
    end = data[3]
    with pytest.raises(InvalidInput, match="as_of"):
        deals_at_risk(history, as_of="not a date")
    with pytest.raises(UnknownGroup, match="team 'nobody'"):  # 404, as the forecast's
        deals_at_risk(history, as_of=end, team="nobody")
    with pytest.raises(InvalidInput, match="limit"):
        deals_at_risk(history, as_of=end, limit=0)


def test_a_date_before_the_first_close_is_refused_naming_as_of_and_that_close(data, history):
    opps = data[0]
    first = opps.loc[opps["status"] != "open", "closed_at"].min()
    with pytest.raises(InvalidInput, match=f"as_of .*before the first close.*{first.date()}"):
        deals_at_risk(history, as_of=first - pd.Timedelta(days=30))


def test_a_date_past_the_forecast_horizon_is_refused_as_a_forecast_is(data, history):
    end = history.end
    settings = Settings(forecast_horizon_days=30)
    with pytest.raises(InvalidInput, match=f"as_of .*more than 30 days after.*{end.date()}"):
        deals_at_risk(history, as_of=end + pd.Timedelta(days=31), settings=settings)
    # within the horizon it is a list as usual
    deals_at_risk(history, as_of=end + pd.Timedelta(days=29), settings=settings)


def test_an_open_deal_past_its_expected_close_is_flagged_whatever_its_value(data):
    """A deal 24 days past the close its rep expected is still open: it slipped, whatever its
    value or probability. One whose expected close lies ahead is not flagged for it."""
    opps, hist, stages, end = data
    for id_, expected in (("SLIPPED", end - pd.Timedelta(days=24)), ("AHEAD", end + _DAYS_9)):
        opps, hist = add_deal(
            opps,
            hist,
            id=id_,
            stage="Qualification",
            amount=1.0,
            created=end - pd.Timedelta(days=20),
            entries=[("Prospecting", end - pd.Timedelta(days=20))],
        )
        opps.loc[opps["id"] == id_, "expected_close_at"] = expected
    report = deals_at_risk(history_of(opps, hist, stages), as_of=end, limit=500)
    flagged = {d["id"]: d for d in report.deals}
    assert PAST_EXPECTED_CLOSE in flagged["SLIPPED"]["flags"]
    assert (
        f"expected to close by {(end - pd.Timedelta(days=24)).date()}, 24 days ago"
        in flagged["SLIPPED"]["why"]
    )
    assert "AHEAD" not in flagged or PAST_EXPECTED_CLOSE not in flagged["AHEAD"]["flags"]
    assert report.counts[PAST_EXPECTED_CLOSE] >= 1


_DAYS_9 = pd.Timedelta(days=9)


def test_an_export_without_stage_changes_says_so_once_and_flags_none_as_stuck(data):
    """An export of each deal's current stage alone (no stage history): how long a stage
    lasts is unknown, said once, not as "too few stays" in every stage."""
    opps, hist, stages, end = data
    flat = hist.iloc[:0]
    report = deals_at_risk(history_of(opps, flat, stages), as_of=end).to_dict()
    said = [n for n in report["notes"] if "completed stays" in n]
    assert len(said) == 1 and "records few or no stage changes" in said[0]
    assert not any(STUCK in d["flags"] for d in report["deals"])


def test_without_a_model_the_notes_do_not_say_a_deal_that_moved_on_cannot_fall(data):
    """The fallback's stage win rates need not rise along the funnel (here many deals were
    lost after long stays in Closing): a deal moving on from Qualification to Closing is
    flagged as falling, and the notes, which said "a probability falls only when a deal moves
    back a stage", must not contradict it."""
    opps, hist, stages, end = data
    for i in range(150):
        created = end - pd.Timedelta(days=400 - i)
        opps, hist = add_deal(
            opps,
            hist,
            id=f"LOSTC{i}",
            stage="Closing",
            amount=1000,
            created=created,
            entries=[("Prospecting", created), ("Closing", created + pd.Timedelta(days=2))],
        )
        last = opps.index[-1]
        opps.loc[last, ["stage", "status"]] = ["Lost", "lost"]
        opps.loc[last, "closed_at"] = created + pd.Timedelta(days=120)
        extra = pd.DataFrame(
            [(f"LOSTC{i}", "Lost", created + pd.Timedelta(days=120))],
            columns=["opportunity_id", "stage", "entered_at"],
        )
        hist = pd.concat([hist, extra], ignore_index=True)
    opps, hist = add_deal(
        opps,
        hist,
        id="ADV",
        stage="Closing",
        amount=1e6,
        created=end - pd.Timedelta(days=60),
        entries=[
            ("Prospecting", end - pd.Timedelta(days=60)),
            ("Qualification", end - pd.Timedelta(days=50)),
            ("Closing", end - pd.Timedelta(days=5)),
        ],
    )
    report = deals_at_risk(history_of(opps, hist, stages), as_of=end, lookback_days=28)
    adv = next(d for d in report.deals if d["id"] == "ADV")
    assert FALLING_PROBABILITY in adv["flags"]
    assert not any("moves back" in n for n in report.notes), report.notes
    assert any("changes stage" in n for n in report.notes)
