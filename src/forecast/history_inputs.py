"""The frames a `DealHistory` is built from, as an export gives them: one field observation per
deal where no field history is given, and a creation date where the export gave none."""

from __future__ import annotations

import pandas as pd

from forecast.data.stages import LOST, WON
from forecast.data.tables import TRACKED_FIELDS
from forecast.errors import InvalidInput
from forecast.stage_stays import STAGE_LOG_COLUMNS


def check_columns(deals: pd.DataFrame, stage_log: pd.DataFrame) -> None:
    """Every column a history reads is there, or an error naming the missing ones."""
    missing = [c for c in ("id", "created_at", "stage", "status", "closed_at") if c not in deals]
    if missing:
        raise InvalidInput(f"deals lack required column(s) {missing}")
    missing = [c for c in STAGE_LOG_COLUMNS if c not in stage_log.columns]
    if missing:
        raise InvalidInput(f"stage history lacks required column(s) {missing}")


def created_by_first_entry(deals: pd.DataFrame, stage_log: pd.DataFrame) -> pd.DataFrame:
    """A deal the export gave no creation date (`created_estimated`: dated at its close or the
    export) existed by its first stage entry at the latest: created then, so that a snapshot
    between the two sees it in the stage it was in, not nothing."""
    if "created_estimated" not in deals or not len(stage_log):
        return deals
    estimated = deals["created_estimated"].fillna(False).to_numpy(dtype=bool)
    if not estimated.any():
        return deals
    first = stage_log.groupby("opportunity_id")["entered_at"].min()
    entered = pd.to_datetime(deals["id"].map(first)).astype(deals["created_at"].dtype)
    earlier = estimated & (entered < deals["created_at"]).to_numpy(dtype=bool)
    if not earlier.any():
        return deals
    deals = deals.copy()
    deals.loc[earlier, "created_at"] = entered[earlier]
    return deals


def undated_closes_note(deals: pd.DataFrame, what: str) -> str | None:
    """Why `what` cannot be learnt, where every deal that closed (won or lost with a close
    date) has no creation of its own: dated at its close and not moved back by a stage entry
    (`created_by_first_entry`), it was never open. None where some closed deal was."""
    if "created_estimated" not in deals:
        return None
    closed = deals["status"].isin([WON, LOST]) & deals["closed_at"].notna()
    if not closed.any():
        return None
    estimated = deals.loc[closed, "created_estimated"].fillna(False).astype(bool)
    at_close = deals.loc[closed, "created_at"] >= deals.loc[closed, "closed_at"]
    if not (estimated & at_close).all():
        return None
    return (
        f"{int(closed.sum())} deals closed, but none has a creation date (the export gives none, "
        f"so each is dated at its close or the export): {what} is learnt from the days a deal "
        "was open; map the export's creation date column (created_at)"
    )


def observations_of(deals: pd.DataFrame) -> pd.DataFrame:
    """One field-history observation per deal: its current fields, observed at `updated_at`
    (its creation where that is missing)."""
    when = deals["updated_at"] if "updated_at" in deals else deals["created_at"]
    when = when.fillna(deals["created_at"])
    frame = pd.DataFrame(
        {
            "opportunity_id": deals["id"].to_numpy(),
            "observed_at": pd.to_datetime(when).to_numpy("datetime64[us]"),
        }
    )
    for col in TRACKED_FIELDS:
        if col in deals:
            frame[col] = deals[col].to_numpy()
    return frame
