"""A closed deal's close date given its stage history: where the history records the deal
entering its outcome, that entry is its close, in the as-of snapshots, the KPIs and a backtest's
actual won revenue alike; where it does not, the deals file's close date.

The deals file's close date here is what a Zoho export leaves in "Closing Date": the date the
deal was expected to close, in another quarter than the one it closed in."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.stages import StageSet
from forecast.forecasting.replay import won_deals
from forecast.history import DealHistory
from forecast.kpis import compute_kpis
from tests.forecast.hand_histories import hand_history

T = pd.Timestamp
STAGES = StageSet(open_stages=("Lead", "Qualified"))

# id, amount, status, created, the deals file's close date, the history's entries after "Lead"
# at creation: [(stage, entered), ...]
DEALS = [
    # Won on 15 December (2024-Q4); the file still says 31 January (2025-Q1).
    ("W1", 1000.0, "won", "2024-10-01", "2025-01-31", [("Won", "2024-12-15")]),
    # Won on 10 February (2025-Q1); the file says 20 December (2024-Q4).
    ("W2", 300.0, "won", "2024-11-01", "2024-12-20", [("Won", "2025-02-10")]),
    # Lost on 1 November (2024-Q4); the file says 15 January (2025-Q1).
    ("L1", 200.0, "lost", "2024-10-05", "2025-01-15", [("Lost", "2024-11-01")]),
    # The history file has no row for its win: the file's close date (1 December) is its close.
    ("W3", 50.0, "won", "2024-10-10", "2024-12-01", [("Qualified", "2024-11-01")]),
    # Still open: its date under the close column is an expectation, never a close.
    ("O1", 700.0, "open", "2024-12-01", "2025-01-20", []),
]


@pytest.fixture
def history() -> DealHistory:
    deals = [
        {
            "id": id_,
            "amount": amount,
            "status": status,
            "created_at": created,
            "closed_at": close,
            "updated_at": "2025-03-01",
        }
        for id_, amount, status, created, close, _ in DEALS
    ]
    entries = [(id_, stage, at) for id_, *_, steps in DEALS for stage, at in steps]
    return hand_history(deals, entries, STAGES, opened_in="Lead")


def test_won_revenue_and_win_rate_fall_in_the_quarter_the_history_closes_a_deal_in(history):
    report = compute_kpis(history, period="quarter")
    q4, q1 = report.row(period="2024-Q4"), report.row(period="2025-Q1")
    # W1 (history: December) and W3 (no outcome row: the file's December); L1 lost in November.
    assert (q4["won"], q4["lost"], q4["won_revenue"]) == (2, 1, 1050.0)
    assert q4["win_rate"] == pytest.approx(2 / 3)
    # W2 only: the history has it won in February, whatever the file says.
    assert (q1["won"], q1["lost"], q1["won_revenue"]) == (1, 0, 300.0)
    assert q1["win_rate"] == 1.0


def test_time_to_close_runs_to_the_history_s_outcome_entry(history):
    won = compute_kpis(history, period="quarter").row(period="2024-Q4")["time_to_close"]["won"]
    # W1: 1 October -> 15 December is 75 days; W3: 10 October -> 1 December is 52 days.
    assert won["deals"] == 2
    assert won["median_days"] == pytest.approx((75 + 52) / 2)


def test_the_kpis_read_the_close_the_latest_snapshot_reads(history):
    snapshot = history.as_of(T("2025-06-01")).set_index("id")["closed_at"]
    assert snapshot["W1"] == T("2024-12-15")
    assert snapshot["W2"] == T("2025-02-10")
    assert snapshot["L1"] == T("2024-11-01")
    overall = compute_kpis(history).overall
    assert (overall["won"], overall["lost"], overall["won_revenue"]) == (3, 1, 1350.0)
    cycle = compute_kpis(history).overall["time_to_close"]["closed"]
    # W1 75, W2 101, L1 27, W3 52 days.
    assert cycle["median_days"] == pytest.approx((52 + 75) / 2)


def test_a_backtest_s_actual_won_revenue_reads_the_history_s_close(history):
    won = won_deals(history).set_index("id")["closed_at"]
    assert won.to_dict() == {
        "W1": T("2024-12-15"),
        "W2": T("2025-02-10"),
        "W3": T("2024-12-01"),
    }
    # The deals' own frame is left as the import stored it.
    assert history.deals.set_index("id").loc["W1", "closed_at"] == T("2025-01-31")
