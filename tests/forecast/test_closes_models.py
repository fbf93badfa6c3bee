"""What the models learn from reads a closed deal's close as the snapshots do: its entry into its
outcome where the stage history records it, else the deals file's close date. The reps' past win
rates, the training and holdout rows, the time-to-close rows, the first close the at-risk list
and backtests start from, and the forecast models' cache key all count a deal closed from then.

The deals file's close date here is a Zoho "Closing Date" left at the expected date: in another
month than the close the history records."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast import features as feat
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput
from forecast.forecasting.service import models_key
from forecast.history import DealHistory
from forecast.risk import check_as_of
from forecast.timing.rows import landmarks, survival_rows
from tests.forecast.hand_histories import hand_history

T = pd.Timestamp
STAGES = StageSet(open_stages=("Lead", "Qualified"))

# id, owner, status, created, the deals file's close date, the history's entries after "Lead"
# at creation: [(stage, entered), ...]
DEALS = [
    # Won on 15 December; the file still says 31 January.
    ("W1", "Ana", "won", "2024-10-01", "2025-01-31", [("Won", "2024-12-15")]),
    # Won on 10 February; the file says 20 December.
    ("W2", "Bo", "won", "2024-11-01", "2024-12-20", [("Won", "2025-02-10")]),
    # Lost on 1 November; the file says 15 January.
    ("L1", "Cy", "lost", "2024-10-05", "2025-01-15", [("Lost", "2024-11-01")]),
    # The history file has no row for its win: the file's close date (1 December) is its close.
    ("W3", "Bo", "won", "2024-10-10", "2024-12-01", [("Qualified", "2024-11-01")]),
    # Still open.
    ("O1", "Ana", "open", "2024-12-01", "2025-01-20", []),
]


def history_of(closes: dict[str, str] | None = None) -> DealHistory:
    """The deals above, with the file's close date of some deals replaced by `closes`."""
    closes = closes or {}
    deals = [
        {
            "id": id_,
            "owner": owner,
            "amount": 100.0,
            "status": status,
            "created_at": created,
            "closed_at": closes.get(id_, close),
            "updated_at": "2025-03-01",
        }
        for id_, owner, status, created, close, _ in DEALS
    ]
    entries = [(id_, stage, at) for id_, *_, steps in DEALS for stage, at in steps]
    return hand_history(deals, entries, STAGES, opened_in="Lead")


@pytest.fixture
def history() -> DealHistory:
    return history_of()


def test_a_rep_s_past_closes_count_a_deal_from_the_history_s_close_on(history):
    points = pd.DataFrame(
        {
            "id": ["O1", "O1", "W2"],
            "as_of": [T("2024-12-10"), T("2025-01-10"), T("2025-01-10")],
        }
    )
    rows = feat.deal_rows_at(history, points).set_index(["id", "as_of"])["rep_closed_deals"]
    ana_dec, ana_jan = rows["O1", T("2024-12-10")], rows["O1", T("2025-01-10")]
    bo_jan = rows["W2", T("2025-01-10")]
    # Ana's W1 closed on 15 December (not 31 January): counted on 10 January, not 10 December.
    assert (ana_dec, ana_jan) == (0.0, 1.0)
    # Bo's W3 closed on 1 December (no outcome row: the file's); W2 not before 10 February.
    assert bo_jan == 1.0
    rates = feat.win_rates_as_of(history, "2025-01-10")
    assert {rep: n for rep, (_, n) in rates.rep.items()} == {"Ana": 1.0, "Bo": 1.0, "Cy": 1.0}


def test_training_rows_of_a_deal_stop_at_the_history_s_close(history):
    rows = feat.deal_training_rows(history, every_days=7)
    last = rows.groupby("id")["as_of"].max()
    assert last["W1"] < T("2024-12-15")
    assert last["W2"] > T("2025-01-31")  # open until 10 February, past the file's 20 December
    assert last["W2"] < T("2025-02-10")
    assert last["W3"] < T("2024-12-01")
    # Every row is the deal while open, labelled with the close the history gives.
    assert set(rows["stage"]) <= set(STAGES.open_stages)
    closed = rows.drop_duplicates("id").set_index("id")["closed_at"]
    assert closed["W1"] == T("2024-12-15")
    assert closed["W2"] == T("2025-02-10")


def test_a_holdout_cut_sorts_deals_by_the_history_s_close(history):
    trained = set(feat.deal_training_points(history, known_before="2025-01-01")["id"])
    assert trained == {"W1", "L1", "W3"}  # W2 closed in February, whatever the file says
    held_out = set(feat.deal_rows_after(history, "2025-01-01")["id"])
    assert held_out == {"W2"}


def test_time_to_close_rows_end_at_the_history_s_close(history):
    until = T("2025-03-01")
    points = landmarks(history, until, every_days=7)
    last = points.groupby("id")["as_of"].max()
    assert last["W1"] < T("2024-12-15") and last["W2"] > T("2024-12-20")
    rows = survival_rows(history, until, every_days=7)
    ends = (rows["as_of"] + pd.to_timedelta(rows["duration_days"], unit="D")).groupby(rows["id"])
    assert ends.max()["W1"] == T("2024-12-15")
    assert ends.max()["W2"] == T("2025-02-10")
    assert set(rows.loc[rows["id"] == "W1", "event"]) == {1}  # won, at that close


def test_the_at_risk_list_starts_after_the_history_s_first_close(history):
    # The history's first close is L1's loss on 1 November; the file's earliest is 1 December.
    check_as_of(history, T("2024-11-15"))
    with pytest.raises(InvalidInput, match="2024-11-01"):
        check_as_of(history, T("2024-10-20"))


def test_the_models_cache_key_ignores_a_close_date_the_history_overrides(history):
    # The models fitted on 10 January learn the same whatever the file says of W1's close.
    t = T("2025-01-10")
    moved = history_of({"W1": "2025-01-05"})
    assert models_key(moved, t, None) == models_key(history, t, None)
