"""Where a pushed won or lost deal stands in its stage history, and its stored close.

A push of a closed deal enters its outcome at the close (`closed_at`, or the stored close it
keeps). It also says the deal was in that outcome at its `updated_at`: that sighting is kept
too, so the history at the push's instant is the state's (a push of another stage at the same
instant ties with it, and the later stage, the outcome, wins in both), and which stage history
the same pushes leave does not depend on whether the close came from the push or the store.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import update
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.data.stages import OPEN, StageSet


def outcome_sightings(frame: pd.DataFrame, dataset: str, stages: StageSet) -> pd.DataFrame:
    """A sighting of each pushed won or lost deal in its outcome at the push's `updated_at`
    (`frame`: the pushed rows, canonical; their `updated_at` naive UTC text)."""
    closed = frame[[stages.status(s) != OPEN for s in frame["stage"]]]
    return pd.DataFrame(
        {
            "dataset": dataset,
            "opportunity_id": closed["id"].to_numpy(),
            "stage": closed["stage"].to_numpy(),
            "entered_at": pd.to_datetime(closed["updated_at"]).to_numpy(),
            "seen_only": True,
        }
    )


def close_at_outcome(conn: Connection, dataset: str, after: dict[str, dict]) -> None:
    """A closed deal's stored close is when its stage history has it enter its outcome (the
    close the KPIs read): the same whatever order its pushes came in, and an edit of a won deal
    pushed without its close date does not move it."""
    o = store.opportunities
    for deal_id, row in after.items():
        stage, entered = row.get("__last", (None, None))
        if row["status"] == OPEN or stage != row["stage"] or entered is None:
            continue
        if row["closed_at"] is not None and pd.Timestamp(row["closed_at"]) == entered:
            continue
        when = pd.Timestamp(entered).to_pydatetime()
        where = (o.c.dataset == dataset) & (o.c.id == deal_id)
        conn.execute(update(o).where(where).values(closed_at=when))
        store.new_version(conn, dataset)
        row["closed_at"] = when
