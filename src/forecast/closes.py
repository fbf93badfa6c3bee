"""A closed deal's close date given its stage history: one rule for snapshots, KPIs and a
backtest's actual won revenue.

An export's close date column can stay at the date the deal was expected to close after it
closed (Zoho's "Closing Date"); the stage history's entry into the outcome is when the CRM
recorded it. So where the history has the deal end in the outcome it is in, that entry is its
close; where it does not (a history file without the outcome's row), the deals file's close
date is, and from that date on the snapshots see the deal in its outcome, entered then
(`closed_by_file`, read by `DealHistory.stage_at`). A snapshot's close is its entry into the
outcome it is in then; `final_closes` gives the deals' latest state read the same way
(`close_given_history`: `DealHistory.final_deals`, what every reader of outcomes takes, and the
data's end), so won revenue per period, time to close, win rate per period, the reps' and
accounts' past win rates, the training and time-to-close rows (which end at the close) and the
holdout cut agree with the as-of snapshots.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from forecast.data.stages import LOST, WON, StageSet

#: Later than any stage entry: the stage a deal is in after its whole history.
EVER = np.datetime64("9999-12-31", "us")


class FinalCloses(NamedTuple):
    """Per deal (in `deals` order), its latest state's close."""

    at: np.ndarray  # its close (an open deal's: the file's date, an expectation)
    outcome: np.ndarray  # the won or lost stage its status gives (None while open)
    by_file: np.ndarray  # closed, dated, and its history does not end in its outcome


def close_given_history(
    stage: np.ndarray, entered: np.ndarray, outcome: np.ndarray, recorded: np.ndarray
) -> np.ndarray:
    """Per deal: its close. `stage`, `entered`: the last stage entry known (`stage_at`);
    `outcome`: the won or lost stage the deal is in (None while open); `recorded`: the close
    the deals file gives (NaT where none counts). The entry's date where that entry is the
    outcome, else `recorded`."""
    ends_in_outcome = pd.notna(outcome)
    ends_in_outcome[ends_in_outcome] = stage[ends_in_outcome] == outcome[ends_in_outcome]
    return np.where(ends_in_outcome, entered, recorded).astype("datetime64[us]")


def final_closes(
    deals: pd.DataFrame, stages: StageSet, last: tuple[np.ndarray, np.ndarray] | None
) -> FinalCloses:
    """Each deal's close as the stage history gives it (`close_given_history`); `last`: each
    deal's stage after its whole stage history and when it was entered (`EVER`). Without a stage
    history (None: a cluster run's summary of the deals, whose closes were read this way on the
    workers) every close is the file's."""
    status = deals["status"].to_numpy(dtype=object)
    outcome = np.full(len(deals), None, dtype=object)
    outcome[status == WON], outcome[status == LOST] = stages.won, stages.lost
    recorded = pd.to_datetime(deals["closed_at"]).to_numpy("datetime64[us]")
    stage, entered = last or (np.full(len(deals), None, object), np.full_like(recorded, "NaT"))
    at = close_given_history(stage, entered, outcome, recorded)
    by_file = pd.notna(outcome) & ~np.isnat(recorded)
    by_file[by_file] = stage[by_file] != outcome[by_file]
    return FinalCloses(at, outcome, by_file)


def closed_by_file(
    known: tuple[np.ndarray, np.ndarray], closes: FinalCloses, pos: np.ndarray, when: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`known` (the stage each deal `pos` was in at `when` and when it was entered, as its stage
    history gives it), with a deal whose close the file gives (`FinalCloses.by_file`) in its
    outcome, entered at that close, once the close is before `when`: the snapshots then see it
    closed when `final_deals` does, not open forever."""
    stage, entered = known
    closed = closes.by_file[pos]
    closed[closed] = closes.at[pos[closed]] < when[closed]
    if not closed.any():
        return stage, entered
    stage, entered = stage.copy(), entered.copy()
    stage[closed] = closes.outcome[pos[closed]]
    entered[closed] = closes.at[pos[closed]]
    return stage, entered


def outcomes_of(deals: pd.DataFrame) -> pd.DataFrame:
    """The closes past win rates count (`DealHistory.closed_outcomes`): deals won or lost with a
    close date, as id, owner, account, closed_at, won (1/0)."""
    closed = deals[deals["status"].isin([WON, LOST]) & deals["closed_at"].notna()]
    return pd.DataFrame(
        {
            "id": closed["id"].to_numpy(),
            "owner": closed["owner"].to_numpy() if "owner" in closed else None,
            "account": closed["account"].to_numpy() if "account" in closed else None,
            "closed_at": closed["closed_at"].to_numpy(),
            "won": (closed["status"] == WON).to_numpy(dtype=float),
        }
    )
