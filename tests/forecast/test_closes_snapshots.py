"""A closed deal whose stage history does not end in its outcome (a history file without the
outcome's row) is closed in the snapshots from the deals file's close date on, as the KPIs, the
training labels and `final_deals` count it: never open forever. Where the history ends in the
outcome, its entry is the close and the file's date moves nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.stages import StageSet
from forecast.history import DealHistory
from forecast.kpis import compute_kpis
from tests.forecast.hand_histories import hand_history

T = pd.Timestamp
STAGES = StageSet(open_stages=("Lead", "Qualified"))

# id, status, created, the deals file's close date, the history's entries: [(stage, entered)]
DEALS = [
    # Lost: the history file has no row for its loss; the file says 20 November.
    (
        "L1",
        "lost",
        "2024-10-05",
        "2024-11-20",
        [("Lead", "2024-10-05"), ("Qualified", "2024-11-01")],
    ),
    # Won: no stage entry at all; the file says 10 December.
    ("W1", "won", "2024-10-10", "2024-12-10", []),
    # Lost on 1 November, reopened on 1 December; its win (the file: 10 January) has no row.
    (
        "W2",
        "won",
        "2024-10-01",
        "2025-01-10",
        [("Lost", "2024-11-01"), ("Qualified", "2024-12-01")],
    ),
    # Won on 15 November as the history records it; the file still says 31 March.
    ("W3", "won", "2024-10-01", "2025-03-31", [("Won", "2024-11-15")]),
    # Still open: the date under its close column is an expectation.
    ("O1", "open", "2024-10-01", "2024-11-25", [("Lead", "2024-10-01")]),
]


@pytest.fixture
def history() -> DealHistory:
    return hand_history(
        [
            {
                "id": id_,
                "amount": 100.0,
                "status": status,
                "created_at": created,
                "closed_at": close,
            }
            for id_, status, created, close, _ in DEALS
        ],
        [(id_, stage, at) for id_, _, _, _, steps in DEALS for stage, at in steps],
        STAGES,
    )


def state(history: DealHistory, t: str) -> pd.DataFrame:
    return history.as_of(T(t)).set_index("id")


def test_a_deal_without_its_outcome_row_is_open_until_the_file_s_close(history):
    before = state(history, "2024-11-20")  # a close dated t is not known at t
    assert before.loc["L1", "stage"] == "Qualified" and before.loc["L1", "is_open"]
    assert pd.isna(before.loc["L1", "closed_at"])


def test_from_the_file_s_close_on_it_is_closed_in_its_outcome(history):
    for t in ("2024-11-21", "2025-06-01"):
        row = state(history, t).loc["L1"]
        assert (row["status"], row["stage"], row["is_open"]) == ("lost", "Lost", False)
        assert row["closed_at"] == T("2024-11-20")
        assert row["stage_entered_at"] == T("2024-11-20")
    won = state(history, "2024-12-11").loc["W1"]  # no stage entry at all
    assert (won["status"], won["closed_at"]) == ("won", T("2024-12-10"))


def test_the_latest_snapshot_closes_every_deal_as_final_deals_does(history):
    snapshot = state(history, "2026-01-01")
    final = history.final_deals.set_index("id")
    assert snapshot["status"].to_dict() == final["status"].to_dict()
    closed = final["status"] != "open"
    assert snapshot.loc[closed, "closed_at"].to_dict() == final.loc[closed, "closed_at"].to_dict()
    assert set(history.open_at(T("2026-01-01"))["id"]) == {"O1"}


def test_a_history_that_ends_elsewhere_is_read_until_the_file_s_close(history):
    # W2: lost on 1 November, reopened on 1 December, won as the file says on 10 January.
    assert state(history, "2024-11-15").loc["W2", "status"] == "lost"
    assert state(history, "2024-12-15").loc["W2", "stage"] == "Qualified"
    after = state(history, "2025-01-11").loc["W2"]
    assert (after["status"], after["closed_at"]) == ("won", T("2025-01-10"))
    # W3's history records its win: the file's later date moves nothing.
    assert state(history, "2024-11-16").loc["W3", "closed_at"] == T("2024-11-15")


def test_the_open_pipeline_and_the_kpis_count_the_same_closes(history):
    # On 1 January L1 (20 November) and W1 (10 December) have closed; W2 is open again.
    assert set(history.open_at(T("2025-01-01"))["id"]) == {"W2", "O1"}
    q4 = compute_kpis(history, period="quarter").row(period="2024-Q4")
    # Closed in Q4 as the KPIs read them: W3 won, W1 won, L1 lost.
    assert (q4["won"], q4["lost"]) == (2, 1)


def test_a_model_view_before_the_file_s_close_sees_the_deal_open(history):
    view = history.known_before(T("2024-11-20")).deals.set_index("id")
    assert view.loc["L1", "status"] == "open" and pd.isna(view.loc["L1", "closed_at"])
    later = history.known_before(T("2024-12-01"))
    assert later.deals.set_index("id").loc["L1", "status"] == "lost"
    assert later.as_of(T("2024-12-01")).set_index("id").loc["L1", "closed_at"] == T("2024-11-20")
