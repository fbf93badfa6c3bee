"""A canonical export kept as Parquet: read whole in process, or by partition on a Dask cluster.

The folder holds `opportunities.parquet` (canonical deal columns, as `forecast generate` makes
them; `status` is derived from the stage where absent) and `stage_history.parquet`
(opportunity_id, stage, entered_at), with the canonical mapping's stages. The files are taken as
canonical: column names and types are checked, rows are not validated one by one (that is what
`forecast import` does for any export).

On a cluster (`read_partitioned`), the stage history — several rows per deal, the larger file —
is read by the workers, each the rows of its own slice of deals (row groups outside the slice's
id range are skipped), and never comes to this process. The deals table is read here: the
holdout cut, the closes behind every win rate, the export-state leak check and the counts of a
run all read every deal, and a `DealHistory` holds them in one frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast.data.stages import StageSet
from forecast.errors import InvalidInput
from forecast.history import STAGE_LOG_COLUMNS, DealHistory

if TYPE_CHECKING:
    from distributed import Client, Future

DEALS_FILE, HISTORY_FILE = "opportunities.parquet", "stage_history.parquet"


def is_parquet_export(path: Path) -> bool:
    """True for a folder holding a canonical Parquet export."""
    return path.is_dir() and (path / DEALS_FILE).is_file() and (path / HISTORY_FILE).is_file()


def canonical_stages() -> StageSet:
    """The canonical mapping's stages (what a canonical export's stage names mean)."""
    from forecast.data.mapping import load_mapping

    return load_mapping("canonical").stage_set


def _read(file: Path, columns: list[str] | None = None, **kw: Any) -> pd.DataFrame:
    try:
        return pd.read_parquet(file, columns=columns, **kw)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{file}: not a readable Parquet file ({exc})") from exc


def read_deals(folder: Path, stages: StageSet) -> pd.DataFrame:
    """The deals table, with `status` from the stage where the file has none."""
    deals = _read(folder / DEALS_FILE)
    missing = [c for c in ("id", "created_at", "stage", "closed_at") if c not in deals]
    if missing:
        raise InvalidInput(f"{folder / DEALS_FILE} lacks required column(s) {missing}")
    if "status" not in deals:
        names = deals["stage"].astype(str)
        deals["status"] = names.map({s: stages.status(s) for s in names.unique()})
    return deals


def read_whole(folder: Path) -> DealHistory:
    """The export as one `DealHistory` in this process (with the export-state leak check)."""
    stages = canonical_stages()
    log = _read(folder / HISTORY_FILE)
    missing = [c for c in STAGE_LOG_COLUMNS if c not in log]
    if missing:
        raise InvalidInput(f"{folder / HISTORY_FILE} lacks required column(s) {missing}")
    return DealHistory.from_frames(read_deals(folder, stages), log, stages, name=folder.name)


def write_export(
    deals: pd.DataFrame, stage_log: pd.DataFrame, folder: Path, *, row_group_rows: int = 200_000
) -> list[Path]:
    """Deals and their stage history as a canonical Parquet export in `folder`, in row groups a
    partitioned read can skip (stage history in deal order, as the generator makes it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for frame, name in ((deals, DEALS_FILE), (stage_log, HISTORY_FILE)):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, folder / name, row_group_size=row_group_rows)
        out.append(folder / name)
    return out


# --- by partition -------------------------------------------------------------------------------


def read_piece(file: Path, deals: pd.DataFrame, like: DealHistory) -> DealHistory:
    """On a worker: the history of a slice of deals, reading only their stage history rows
    (no field left out: the run says which)."""
    ids = deals["id"].astype(str)
    bounds = [("opportunity_id", ">=", ids.min()), ("opportunity_id", "<=", ids.max())]
    log = _read(file, list(STAGE_LOG_COLUMNS), filters=bounds)
    log = log[log["opportunity_id"].isin(deals["id"])]
    return DealHistory.from_frames(
        deals, log, like.stages, options=like.options, name=like.name, check_leaks=False
    )


def stage_log_hashes(piece: DealHistory) -> np.ndarray:
    """A piece's stage history rows hashed as `data.fingerprint` hashes them."""
    frame = piece.stage_log.astype(str)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


@dataclass
class PartitionedExport:
    """An export read by partition: the deals here (`summary`, no stage history), each slice's
    whole history on the cluster (`pieces`, in deal order), and the data's fingerprint."""

    summary: DealHistory
    pieces: list[Future]
    fingerprint: str


def read_partitioned(client: Client, folder: Path, parts: int | None = None) -> PartitionedExport:
    """The export read by partition on the cluster (see the module docstring)."""
    from forecast.dask_rows import partition_count

    stages = canonical_stages()
    deals = read_deals(folder, stages)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in STAGE_LOG_COLUMNS})
    empty["entered_at"] = pd.Series(dtype="datetime64[us]")
    summary = DealHistory.from_frames(deals, empty, stages, name=folder.name)
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    n_parts = parts or partition_count(len(summary.deals), workers)
    bounds = np.linspace(0, len(summary.deals), n_parts + 1).round().astype(np.int64)
    like = DealHistory(
        summary.deals.head(0),
        empty,
        summary.field_log.head(0),
        stages,
        summary.options,
        summary.name,
        summary.left_out,
        summary.leak_notes,
    )
    slices = client.scatter(
        [summary.deals.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    )
    pieces = [client.submit(read_piece, folder / HISTORY_FILE, s, like) for s in slices]
    hashes = client.gather([client.submit(stage_log_hashes, p) for p in pieces])
    digest = _fingerprint(summary.deals, np.concatenate(hashes), list(STAGE_LOG_COLUMNS))
    return PartitionedExport(summary, pieces, digest)


def _fingerprint(deals: pd.DataFrame, log_hashes: np.ndarray, log_columns: list[str]) -> str:
    """`data.fingerprint.fingerprint(deals, stage_log)` from the stage log's row hashes."""
    digest = hashlib.sha256()
    hashed = pd.util.hash_pandas_object(deals.astype(str), index=False).to_numpy()
    digest.update(np.sort(hashed).tobytes())
    digest.update("|".join(map(str, deals.columns)).encode())
    digest.update(np.sort(log_hashes).tobytes())
    digest.update("|".join(log_columns).encode())
    return digest.hexdigest()[:16]
