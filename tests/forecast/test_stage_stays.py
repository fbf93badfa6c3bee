"""Completed stays: what the KPIs' time in stage and the at-risk list's "stuck" both read."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.stages import StageSet
from forecast.history import DealHistory
from forecast.risk import stage_stay_quantiles
from forecast.stage_stays import completed_stays

T = pd.Timestamp
OPEN = ("Lead", "Qualified", "Proposal")


def log_of(*entries: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [(d, s, T(t)) for d, s, t in entries], columns=["opportunity_id", "stage", "entered_at"]
    )


def test_a_stay_runs_from_its_entry_to_the_deals_next_entry():
    log = log_of(
        ("A", "Lead", "2024-01-01"),
        ("A", "Qualified", "2024-01-11"),
        ("A", "Won", "2024-01-15 12:00"),
    )
    stays = completed_stays(log, OPEN)
    assert stays["opportunity_id"].tolist() == ["A", "A"]
    assert stays["stage"].tolist() == ["Lead", "Qualified"]
    assert stays["entered_at"].tolist() == [T("2024-01-01"), T("2024-01-11")]
    assert stays["ended_at"].tolist() == [T("2024-01-11"), T("2024-01-15 12:00")]
    assert stays["days"].tolist() == [10.0, 4.5]


def test_a_stay_still_running_and_an_outcome_are_not_completed_stays():
    log = log_of(
        ("A", "Lead", "2024-01-01"),
        ("A", "Proposal", "2024-01-03"),  # still there
        ("B", "Lost", "2024-01-02"),
        ("B", "Lead", "2024-01-05"),  # an outcome then a reopening: Lost is no open stage
    )
    stays = completed_stays(log, OPEN)
    assert stays[["opportunity_id", "stage", "days"]].values.tolist() == [["A", "Lead", 2.0]]


def test_a_stage_recorded_twice_in_a_row_is_one_stay_entered_at_the_first():
    log = log_of(
        ("A", "Lead", "2024-01-01"),
        ("A", "Lead", "2024-01-05"),
        ("A", "Qualified", "2024-01-11"),
    )
    stays = completed_stays(log, OPEN)
    assert stays[["stage", "days"]].values.tolist() == [["Lead", 10.0]]


def test_a_stage_entered_at_the_instant_the_deal_left_it_is_no_time_in_stage():
    # An export that says only which stage a deal closed in dates that stage at the close.
    log = log_of(
        ("A", "Lead", "2024-01-01"),
        ("A", "Proposal", "2024-02-01"),
        ("A", "Lost", "2024-02-01"),
    )
    stays = completed_stays(log, OPEN)
    assert stays[["stage", "days"]].values.tolist() == [["Lead", 31.0]]


def test_entries_are_read_in_time_order_per_deal_whatever_the_rows_order():
    log = log_of(
        ("B", "Qualified", "2024-01-04"),
        ("A", "Qualified", "2024-01-03"),
        ("B", "Lead", "2024-01-02"),
        ("A", "Lead", "2024-01-01"),
        ("A", "Won", "2024-01-06"),
        ("B", "Won", "2024-01-05"),
    )
    got = completed_stays(log, OPEN)[["opportunity_id", "stage", "days"]].values.tolist()
    assert got == [
        ["B", "Lead", 2.0],
        ["B", "Qualified", 1.0],
        ["A", "Lead", 2.0],
        ["A", "Qualified", 3.0],
    ]


def test_an_empty_log_has_no_stays():
    assert completed_stays(log_of(), OPEN).empty


def test_the_at_risk_thresholds_read_the_stays_the_history_gives():
    log = log_of(
        ("A", "Lead", "2024-01-01"),
        ("A", "Lead", "2024-01-05"),  # one stay of ten days, not four and six
        ("A", "Qualified", "2024-01-11"),
        ("B", "Lead", "2024-01-01"),
        ("B", "Lost", "2024-01-01"),  # no time in Lead
    )
    deals = pd.DataFrame(
        {
            "id": ["A", "B"],
            "created_at": T("2024-01-01"),
            "stage": ["Qualified", "Lost"],
            "status": ["open", "lost"],
            "closed_at": [pd.NaT, T("2024-01-01")],
        }
    )
    history = DealHistory.from_frames(deals, log, StageSet(OPEN), check_leaks=False)
    assert history.completed_stays()[["opportunity_id", "days"]].values.tolist() == [["A", 10.0]]
    quantiles = stage_stay_quantiles(history, "2024-02-01", q=0.5, min_stays=1)
    assert quantiles == {"Lead": 10.0, "Qualified": None, "Proposal": None}


@pytest.fixture
def history() -> DealHistory:
    """A: entered Qualified on its creation, then won. B: no entry but its loss at the close.
    C: lost, reopened in Proposal, won. D: open in Proposal since creation. E: no creation
    date. F: an open stage entered at the instant it was lost."""
    log = log_of(
        ("A", "Qualified", "2024-01-01"),
        ("A", "Won", "2024-02-01"),
        ("B", "Lost", "2024-02-01"),
        ("C", "Lost", "2024-01-10"),
        ("C", "Proposal", "2024-01-20"),
        ("C", "Won", "2024-02-01"),
        ("D", "Proposal", "2024-01-01"),
        ("F", "Proposal", "2024-02-01"),
        ("F", "Lost", "2024-02-01"),
    )
    closed = T("2024-02-01")
    deals = pd.DataFrame(
        {
            "id": ["A", "B", "C", "D", "E", "F"],
            "created_at": [T("2024-01-01")] * 4 + [pd.NaT, T("2024-01-01")],
            "stage": ["Won", "Lost", "Won", "Proposal", "Lead", "Lost"],
            "status": ["won", "lost", "won", "open", "open", "lost"],
            "closed_at": [closed, closed, closed, pd.NaT, pd.NaT, closed],
        }
    )
    return DealHistory.from_frames(deals, log, StageSet(OPEN), check_leaks=False)


def test_a_deals_stage_as_first_seen_is_the_one_known_just_after_its_creation(history):
    # An entry dated at the creation is known just after it; with none by then, a deal is in
    # the first open stage; without a creation date, nothing was seen.
    assert history.first_seen_stages().tolist() == [
        "Qualified",
        "Lead",
        "Lead",
        "Proposal",
        None,
        "Lead",
    ]


def test_an_open_stage_counts_as_recorded_only_when_entered_before_the_close(history):
    # C's reopening counts though its first entry is an outcome; F's stage dated at its close
    # and an open deal with no close date do not.
    assert history.open_stage_before_close().tolist() == [True, False, True, False, False, False]
