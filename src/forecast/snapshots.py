"""The pipeline as it stood on a past date, rebuilt from the stage history.

This is the as-of rule in code: a snapshot at `as_of` uses only stage entries made on or before
`as_of`, so a deal won later is open in it, and a deal created later is absent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.stages import LOST, OPEN, WON, StageSet

SNAPSHOT_COLUMNS = [
    "id", "stage", "status", "is_open", "created_at", "stage_entered_at", "age_days",
    "days_in_stage", "amount", "amount_estimated",
]


def as_timestamp(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def stage_as_of(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per deal, the last stage entered on or before `as_of`: opportunity_id, stage, entered_at."""
    known = history[history["entered_at"] <= as_of]
    if known.empty:
        return pd.DataFrame({
            "opportunity_id": pd.Series(dtype=history["opportunity_id"].dtype),
            "stage": pd.Series(dtype="str"),
            "entered_at": pd.Series(dtype=history["entered_at"].dtype),
        })
    # One stable sort on time (entries at the same instant keep their recorded order), then the
    # last entry per deal found on integer codes: far faster than sorting or de-duplicating on
    # the text ids for millions of entries.
    order = np.argsort(known["entered_at"].to_numpy(), kind="stable")
    codes, _ = pd.factorize(known["opportunity_id"].to_numpy()[order])
    _, first_from_end = np.unique(codes[::-1], return_index=True)
    rows = order[len(codes) - 1 - first_from_end]
    return known.iloc[np.sort(rows)][["opportunity_id", "stage", "entered_at"]]


def snapshot(
    opportunities: pd.DataFrame,
    history: pd.DataFrame,
    stages: StageSet,
    as_of: object,
    *,
    amount_known_before_close: bool = True,
) -> pd.DataFrame:
    """Every deal that existed at `as_of`, in the stage it was in then.

    Returns the deal's attributes plus `stage`, `status` (open/won/lost as of the date),
    `is_open`, `stage_entered_at`, `age_days` and `days_in_stage`. Where the dataset only learns
    a deal's amount at close (`amount_known_before_close=False`), deals still open at `as_of`
    carry the product's list price instead, flagged in `amount_estimated`.
    """
    t = as_timestamp(as_of)
    deals = opportunities[opportunities["created_at"].notna() & (opportunities["created_at"] <= t)]
    current = stage_as_of(history, t).rename(
        columns={"opportunity_id": "id", "stage": "stage_as_of", "entered_at": "stage_entered_at"}
    )
    frame = deals.drop(columns=["stage", "status"], errors="ignore").reset_index(drop=True)
    at = pd.Index(current["id"]).get_indexer(frame["id"])
    found = at >= 0
    for col in ("stage_as_of", "stage_entered_at"):
        values = current[col].to_numpy()[np.where(found, at, 0)] if len(current) else None
        column = pd.Series(values, index=frame.index) if values is not None else pd.Series(
            pd.NA, index=frame.index)
        frame[col] = column.where(found) if values is not None else column
    frame["stage_entered_at"] = pd.to_datetime(frame["stage_entered_at"]).astype(
        "datetime64[us]")
    first_stage = stages.open_stages[0]
    frame["stage"] = frame.pop("stage_as_of").fillna(first_stage).astype("str")
    frame["stage_entered_at"] = frame["stage_entered_at"].fillna(frame["created_at"])
    status = pd.Series(OPEN, index=frame.index, dtype="str")
    status[frame["stage"] == stages.won] = WON
    status[frame["stage"] == stages.lost] = LOST
    frame["status"] = status.astype("str")
    frame["is_open"] = frame["status"] == OPEN
    # What a later close revealed is not known yet at t.
    if "closed_at" in frame:
        frame.loc[frame["is_open"], "closed_at"] = pd.NaT
    if not amount_known_before_close and "list_price" in frame:
        later = frame["is_open"]
        frame.loc[later, "amount"] = frame.loc[later, "list_price"]
        frame.loc[later, "amount_estimated"] = True
    frame["age_days"] = (t - frame["created_at"]).dt.total_seconds() / 86_400
    frame["days_in_stage"] = (t - frame["stage_entered_at"]).dt.total_seconds() / 86_400
    frame["as_of"] = t
    return frame.reset_index(drop=True)


def open_pipeline(
    opportunities: pd.DataFrame,
    history: pd.DataFrame,
    stages: StageSet,
    as_of: object,
    **kwargs: bool,
) -> pd.DataFrame:
    """Only the deals open at `as_of`."""
    snap = snapshot(opportunities, history, stages, as_of, **kwargs)
    return snap[snap["is_open"]].reset_index(drop=True)
