"""A closed deal's close date given its stage history: one rule for snapshots, KPIs and a
backtest's actual won revenue.

An export's close date column can stay at the date the deal was expected to close after it
closed (Zoho's "Closing Date"); the stage history's entry into the outcome is when the CRM
recorded it. So where the history has the deal enter the outcome it is in, that entry is its
close; where it does not (a history file without the outcome's row), the deals file's close
date is. `DealHistory.rows_at` reads each snapshot's close with `close_given_history`, and
`closed_by_history` gives the deals' latest state read the same way (`DealHistory.final_deals`,
what every reader of outcomes takes), so won revenue per period, time to close, win rate per
period, the reps' and accounts' past win rates, the training and time-to-close rows (which end
at the close) and the holdout cut agree with the as-of snapshots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecast.data.stages import LOST, OPEN, WON

if TYPE_CHECKING:
    from forecast.history import DealHistory

#: Later than any stage entry: the stage a deal is in after its whole history.
_EVER = np.datetime64("9999-12-31", "us")


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


def closed_by_history(history: DealHistory) -> pd.DataFrame:
    """`history.deals` with each closed deal's `closed_at` as the stage history gives it
    (`close_given_history`: the close a snapshot after every entry reads); an open deal's date
    is left as the file gives it. Without a stage history (a cluster run's summary of the deals,
    whose closes were read this way on the workers) every close is the file's."""
    deals = history.deals.reset_index(drop=True)
    if not len(history.stage_log):
        return deals
    pos = np.arange(len(deals))
    stage, entered = history.stage_at(pos, np.full(len(pos), _EVER))
    outcome = deals["stage"].where(deals["status"] != OPEN).to_numpy(dtype=object)
    recorded = pd.to_datetime(deals["closed_at"]).to_numpy("datetime64[us]")
    closes = close_given_history(stage, entered, outcome, recorded)
    return deals.assign(closed_at=closes)


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
