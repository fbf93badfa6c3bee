"""One stored deal as a CRM sees it: read back what it pushed, or removed when deleted there.

A deal deleted in the CRM would otherwise stay open in the store forever, in every KPI,
forecast and at-risk list. Removing it leaves it out as an import's `skip_rows` leaves out a
deleted deal: its row, its stage observations and its field observations go, in one
transaction under the dataset's write lock (a push of it waits, then finds it gone). Scores
already logged for it stay: they are what was answered then (`score_log`). A later push of the
deal creates it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.errors import NotFound


@dataclass(frozen=True)
class DealRemoved:
    dataset: str
    id: str
    stage: str  # the stage it was stored in
    status: str
    stage_observations_removed: int
    field_observations_removed: int


def stored_deal(engine: Engine, deal_id: str, *, dataset: str | None = None) -> dict[str, Any]:
    """The deal's stored current state (its row, without bookkeeping), with its dataset."""
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
        row = _row(conn, name, deal_id)
    return {k: v for k, v in row.items() if k != "state_key"}


def remove_deal(engine: Engine, deal_id: str, *, dataset: str | None = None) -> DealRemoved:
    """Remove a deal and its stage and field histories from `dataset`, all or nothing."""
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
    with store.transaction(engine) as conn:
        store.lock_dataset(conn, name)
        row = _row(conn, name, deal_id)
        h, f, o = store.stage_history, store.field_history, store.opportunities
        stages = conn.execute(
            delete(h).where(h.c.dataset == name, h.c.opportunity_id == deal_id)
        ).rowcount
        fields = conn.execute(
            delete(f).where(f.c.dataset == name, f.c.opportunity_id == deal_id)
        ).rowcount
        conn.execute(delete(o).where(o.c.dataset == name, o.c.id == deal_id))
        store.new_version(conn, name)
    return DealRemoved(name, deal_id, row["stage"], row["status"], stages, fields)


def _row(conn: Connection, dataset: str, deal_id: str) -> dict[str, Any]:
    o = store.opportunities
    row = conn.execute(select(o).where(o.c.dataset == dataset, o.c.id == deal_id)).mappings()
    found = row.first()
    if found is None:
        raise NotFound(f"no deal {deal_id!r} in dataset {dataset!r}")
    return dict(found)
