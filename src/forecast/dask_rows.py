"""Deal snapshot rows built partition by partition on a Dask cluster, equal to the in-process rows.

A partition is a contiguous slice of a history's deals (in `DealHistory.deals` order) with their
own stage and field history: a deal's rows depend only on its own history, except the reps' and
accounts' past win rates, which read every close. Those closes are indexed once
(`features.PastCloses`) and handed to every partition, so each partition's rows equal the
in-process rows of its deals, and the partitions' rows in order are the in-process rows.

Only functions defined at module level run on the workers (they are pickled by reference).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import features as feat
from forecast.history import DealHistory
from forecast.modeling.estimators import group_fractions

if TYPE_CHECKING:
    from distributed import Client, Future

#: Deals per partition: a partition's rows (about 4 per deal) stay near 100 MB.
DEALS_PER_PARTITION = 100_000
#: Partitions per worker at least. Deals come in creation order, so one slice per worker would
#: give each worker one stretch of time; LightGBM finds each feature's bins on one worker's
#: rows, which then see only their own stretch. Several slices per worker mix the times.
PARTITIONS_PER_WORKER = 4


def partition_count(n_deals: int, workers: int) -> int:
    """Partitions for `n_deals`: `PARTITIONS_PER_WORKER` per worker, or more so that none holds
    over `DEALS_PER_PARTITION` deals."""
    wanted = max(PARTITIONS_PER_WORKER * workers, math.ceil(n_deals / DEALS_PER_PARTITION))
    return max(1, min(n_deals, wanted))


def split_history(history: DealHistory, parts: int) -> list[DealHistory]:
    """`history` as `parts` histories of contiguous slices of its deals, each with its deals'
    stage and field history (in their order), the same stages, options and left-out fields."""
    return list(history_slices(history, parts))


def history_slices(history: DealHistory, parts: int) -> Iterator[DealHistory]:
    """`split_history`'s slices one at a time, so that only one is held beside `history`."""
    n = len(history.deals)
    bounds = np.linspace(0, n, max(1, parts) + 1).round().astype(np.int64)
    if len(bounds) == 2:
        yield history
        return
    stage_part = _part_of(history, history.stage_log["opportunity_id"], bounds)
    field_part = _part_of(history, history.field_log["opportunity_id"], bounds)
    for i in range(len(bounds) - 1):
        yield replace(
            history,
            deals=history.deals.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True),
            stage_log=history.stage_log[stage_part == i].reset_index(drop=True),
            field_log=history.field_log[field_part == i].reset_index(drop=True),
        )


def slice_count(n_deals: int) -> int:
    """Slices for building `n_deals`' rows in one process: none over `DEALS_PER_PARTITION`."""
    return max(1, math.ceil(n_deals / DEALS_PER_PARTITION))


def _part_of(history: DealHistory, ids: pd.Series, bounds: np.ndarray) -> np.ndarray:
    """The partition of each id's deal (-1 for an id not among the deals)."""
    pos = history.positions(ids)
    part = np.searchsorted(bounds, pos, side="right") - 1
    part[pos < 0] = -1
    return part


# --- on the workers -----------------------------------------------------------------------------


def training_rows_part(
    history: DealHistory,
    closes: feat.PastCloses,
    every_days: int,
    known_before: pd.Timestamp,
    created_before: pd.Timestamp,
) -> pd.DataFrame:
    """A partition's training rows (`features.deal_training_rows` with the whole history's
    closes)."""
    return feat.deal_training_rows(
        history,
        every_days=every_days,
        known_before=known_before,
        created_before=created_before,
        closes=closes,
    )


def training_row_count(
    history: DealHistory, every_days: int, known_before: pd.Timestamp, created_before: pd.Timestamp
) -> int:
    """How many rows `training_rows_part` makes of a partition, without making them."""
    points = feat.deal_training_points(
        history, every_days=every_days, known_before=known_before, created_before=created_before
    )
    return len(points)


def holdout_rows_part(
    history: DealHistory, closes: feat.PastCloses, every_days: int, cut: pd.Timestamp
) -> pd.DataFrame:
    """A partition's holdout rows (`features.deal_rows_after` with the whole history's closes)."""
    return feat.deal_rows_after(history, cut, every_days=every_days, closes=closes)


def row_summary(rows: pd.DataFrame) -> dict[str, Any]:
    """What the client needs of a partition's training rows without fetching them: their count
    and each deal's label (a deal's rows are all in one partition)."""
    return {"rows": len(rows), "deal_labels": rows.drop_duplicates("id")["won"].to_numpy()}


def sampled_rows(rows: pd.DataFrame, seed: int, fraction: float) -> pd.DataFrame:
    """The rows of a stable pseudo-random `fraction` of the deals (whole deals, by id)."""
    if fraction >= 1.0:
        return rows
    keep = group_fractions(rows["id"].to_numpy(), seed) < fraction
    return rows[keep]


# --- on the client ------------------------------------------------------------------------------


@dataclass
class RowsOnCluster:
    """A deal run's rows, kept on the workers: per partition, its training and holdout rows."""

    train: list[Future]
    test: list[Future]
    train_rows: int
    deal_labels: np.ndarray


def build_rows(
    client: Client,
    history: DealHistory,
    *,
    every_days: int,
    cut: pd.Timestamp,
    created_before: pd.Timestamp,
    parts: int | None = None,
) -> RowsOnCluster:
    """Training and holdout rows of `history` built on the cluster, partition by partition."""
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    n_parts = parts or partition_count(len(history.deals), workers)
    closes = client.scatter(
        feat.PastCloses.from_outcomes(history.closed_outcomes()), broadcast=True
    )
    pieces = client.scatter(split_history(history, n_parts))
    return rows_from_parts(client, pieces, closes, every_days, cut, created_before)


def rows_from_parts(
    client: Client,
    pieces: Sequence[Future],
    closes: Future,
    every_days: int,
    cut: pd.Timestamp,
    created_before: pd.Timestamp,
) -> RowsOnCluster:
    """Rows of histories already on the cluster (`pieces`, in deal order), with every close."""
    train = [
        client.submit(training_rows_part, p, closes, every_days, cut, created_before)
        for p in pieces
    ]
    test = [client.submit(holdout_rows_part, p, closes, every_days, cut) for p in pieces]
    summaries = client.gather([client.submit(row_summary, f) for f in train])
    labels = [s["deal_labels"] for s in summaries]
    return RowsOnCluster(
        train,
        test,
        int(sum(s["rows"] for s in summaries)),
        np.concatenate(labels) if labels else np.zeros(0),
    )


def gather_rows(client: Client, futures: Sequence[Future]) -> pd.DataFrame:
    """The partitions' rows in one frame, in partition order (the in-process order)."""
    return concat_rows(client.gather(list(futures)))


def concat_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' rows in one frame, in their order."""
    return pd.concat(frames, ignore_index=True) if len(frames) else pd.DataFrame()


def opened(piece: Any) -> DealHistory:
    """A partition's history: itself, or a slice of an export or of the store read here
    (`parquet_export.ExportSlice`, `store_slices.StoreSlice`)."""
    return piece if isinstance(piece, DealHistory) else piece.read()


def past_closes(*parts: pd.DataFrame) -> feat.PastCloses:
    """Every close, from the slices' closes in deal order (`DealHistory.closed_outcomes`)."""
    return feat.PastCloses.from_outcomes(pd.concat(parts, ignore_index=True))
