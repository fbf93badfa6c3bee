"""Hand-written deal histories for logic tests: a few deals and their stage entries, spelled
out in the test so a reader sees every date the assertions rest on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from forecast.data.stages import StageSet
from forecast.history import DealHistory

DATE_COLUMNS = ("created_at", "closed_at", "updated_at")


def hand_history(
    deals: Iterable[Mapping[str, Any]],
    entries: Iterable[tuple[str, str, str]],
    stages: StageSet,
    *,
    opened_in: str | None = None,
) -> DealHistory:
    """A history from deals (dicts with id, status, created_at, closed_at and any other
    columns, dates as text) and stage entries (opportunity_id, stage, entered_at).

    Each deal's stage is its outcome's ("Won", "Lost") or "Lead" while open, as an export gives
    it beside the status. With `opened_in`, each deal also enters that stage at its creation,
    ahead of its entries. The export-leak check is off: these deals carry file close dates the
    history contradicts on purpose."""
    frame = pd.DataFrame([dict(deal) for deal in deals])
    frame["stage"] = frame["status"].map({"won": "Won", "lost": "Lost"}).fillna("Lead")
    for column in DATE_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    rows = list(entries)
    if opened_in is not None:
        opened = frame[["id", "created_at"]].assign(stage=opened_in)
        rows = list(opened[["id", "stage", "created_at"]].itertuples(index=False)) + rows
    log = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_at"])
    log["entered_at"] = pd.to_datetime(log["entered_at"])
    return DealHistory.from_frames(frame, log, stages, check_leaks=False)
