"""The data's end ("now": the export date the forecast's default as-of, the horizon and the
backtest's last complete period start from) and the export-leak check read a closed deal's
close as the snapshots do: its entry into its outcome where the stage history records it, else
the deals file's close date.

The deals file's close date here is a Zoho "Closing Date" left at the expected date: months
after the close the history records, or before it."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.stages import StageSet
from forecast.forecasting.backtest import export_date_of
from forecast.history import DealHistory
from tests.forecast.hand_histories import hand_history

T = pd.Timestamp
STAGES = StageSet(open_stages=("Lead", "Qualified"))

# id, status, created, the deals file's close date, the history's entries: [(stage, entered)]
DEALS = [
    # Won on 15 November; the file still says 31 March.
    ("W1", "won", "2024-10-01", "2025-03-31", [("Lead", "2024-10-01"), ("Won", "2024-11-15")]),
    # Lost, with no row for its loss in the history file: the file's 20 November is its close.
    ("L1", "lost", "2024-10-05", "2024-11-20", [("Lead", "2024-10-05")]),
    # Qualified on 1 December and won on 15 December; the file says 20 October.
    ("W2", "won", "2024-10-10", "2024-10-20", [("Qualified", "2024-12-01"), ("Won", "2024-12-15")]),
    # Still open: its date under the close column is an expectation.
    ("O1", "open", "2024-11-01", "2025-06-30", [("Lead", "2024-11-01")]),
]


def history_of(deals: list[tuple] = DEALS) -> DealHistory:
    return hand_history(
        [
            {"id": id_, "status": status, "created_at": created, "closed_at": close}
            for id_, status, created, close, _ in deals
        ],
        [(id_, stage, at) for id_, _, _, _, steps in deals for stage, at in steps],
        STAGES,
    )


@pytest.fixture
def history() -> DealHistory:
    return history_of()


def test_the_data_ends_at_the_last_close_the_history_gives_not_a_later_file_date(history):
    # W1's file date (31 March) is not a close; W2's entry into Won (15 December) is the newest.
    assert history.end == T("2024-12-15")
    assert history.now(today="2026-01-01") == T("2024-12-16")
    # With no export date in the data, a backtest's export date is that end too.
    assert export_date_of(history) == T("2024-12-15")


def test_a_closed_deal_with_no_outcome_row_ends_the_data_at_the_file_s_close():
    history = history_of([DEALS[0], DEALS[1]])
    # W1 closed on 15 November; L1's history has no loss: the file's 20 November counts.
    assert history.end == T("2024-11-20")


def test_an_open_stage_entered_before_the_history_s_close_is_on_record(history):
    # W2 was qualified (1 December) before its win (15 December) though after the file's 20
    # October: its history records an open stage before its close (the leak check does not take
    # its stage as the export's alone). L1's Lead entry precedes its close (the file's: no loss
    # row).
    assert history.open_stage_before_close().tolist() == [True, True, True, True]
