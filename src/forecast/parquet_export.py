"""A canonical export kept as Parquet: read whole in process, or by partition on a Dask cluster.

The folder holds `opportunities.parquet` (canonical deal columns, as `forecast generate` makes
them; `status` is derived from the stage where absent) and `stage_history.parquet`
(opportunity_id, stage, entered_at), with the canonical mapping's stages. The files are taken as
canonical: column names and types are checked, rows are not validated one by one (that is what
`forecast import` does for any export).

On a cluster (`read_partitioned`), nothing reads every row in one process: each worker reads
its own slices of deals (the row groups holding them) and their stage history (row groups
outside the slice's id range are skipped), where a task needs them, and keeps none
(`ExportSlice`). This process gets what a run reads of every deal
as sums or a few columns: the export-state leak check's counts (`export_leaks.
leaks_from_counts`), the fingerprint from the slices' sorted row hashes a range of values at a
time, and three columns of the deals (`SUMMARY_COLUMNS`: the holdout cut and the maturity
window read every ended deal's dates; 28 MB at a million deals; and `updated_at`, where the
export has it, the export date a backtest ends at). The closes behind every win
rate are indexed on a worker (`dask_training`). At a million deals the whole deals table, its
field history and the leak check took about 1.1 GB here (issue 14).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast.data.attributes import (
    RATE_BASES,
    distinct_values,
    identifier_notes,
    identifiers_in,
    rate_base_counts,
    unrated_bases,
)
from forecast.data.dataset_options import DatasetOptions
from forecast.data.fingerprint import column_names, row_hashes
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput
from forecast.history import DealHistory
from forecast.stage_stays import STAGE_LOG_COLUMNS

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

#: The deal columns this process keeps of a partitioned read: what `train_deals` reads of every
#: deal (the ended deals' dates for the holdout cut and the maturity window, the counts).
SUMMARY_COLUMNS = ("status", "created_at", "closed_at")
#: Kept too where the deals have it: the export date a backtest ends at is the newest.
OPTIONAL_SUMMARY_COLUMNS = ("updated_at",)
#: Row hashes gathered here at a time when fingerprinting a partitioned read (sorted a range of
#: hash values at a time, so that this process never holds every row's hash).
HASH_BYTES = 32 * 2**20


def _row_groups(file: Path, start: int, stop: int) -> tuple[list[int], int]:
    """The row groups of `file` holding rows [start, stop), and the first one's first row."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(file).metadata
    groups: list[int] = []
    first, at = start, 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if at < stop and at + n > start:
            first = at if not groups else first
            groups.append(i)
        at += n
    return groups, first


def read_deal_rows(folder: Path, start: int, stop: int, stages: StageSet) -> pd.DataFrame:
    """Rows [start, stop) of the deals table, reading only the row groups holding them; the same
    columns and types as `read_deals` (pandas' own conversion of the Arrow table)."""
    import pyarrow.parquet as pq
    from pandas.io._util import arrow_table_to_pandas

    file = folder / DEALS_FILE
    groups, first = _row_groups(file, start, stop)
    try:
        table = pq.ParquetFile(file).read_row_groups(groups, use_pandas_metadata=True)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{file}: not a readable Parquet file ({exc})") from exc
    table = table.slice(start - first, stop - start)
    deals = arrow_table_to_pandas(table)
    if "status" not in deals:
        names = deals["stage"].astype(str)
        deals["status"] = names.map({s: stages.status(s) for s in names.unique()})
    return deals


def read_piece(folder: Path, start: int, stop: int, like: DealHistory) -> DealHistory:
    """On a worker: the history of deals [start, stop) of the export, reading only their rows of
    the deals table and their stage history rows (no field left out: the run says which)."""
    deals = read_deal_rows(folder, start, stop, like.stages)
    ids = deals["id"].astype(str)
    bounds = [("opportunity_id", ">=", ids.min()), ("opportunity_id", "<=", ids.max())]
    log = _read(folder / HISTORY_FILE, list(STAGE_LOG_COLUMNS), filters=bounds)
    log = log[log["opportunity_id"].isin(deals["id"])]
    return DealHistory.from_frames(
        deals, log, like.stages, options=like.options, name=like.name, check_leaks=False
    )


@dataclass(frozen=True)
class HistorySlice:
    """Some deals of a dataset and their history, read where a task needs them and never kept:
    held on the workers, every slice's history at once was most of a worker's memory (issue
    14: about 0.75 GB a worker for each million deals). `left_out`, `notes`: the run's fields
    left out (`DealHistory.leaving_out`), the same for a slice of any source."""

    left_out: frozenset[str] = field(default=frozenset(), kw_only=True)
    notes: tuple[str, ...] = field(default=(), kw_only=True)

    def read(self) -> DealHistory:
        """On a worker: the slice's history with the run's fields left out."""
        piece = self.read_whole()
        return piece.leaving_out(self.left_out, self.notes) if self.left_out else piece

    def read_whole(self) -> DealHistory:
        """The slice's history with every field its source holds."""
        raise NotImplementedError


@dataclass(frozen=True)
class ExportSlice(HistorySlice):
    """Deals [start, stop) of a Parquet export (`read_piece`)."""

    folder: Path
    start: int
    stop: int
    like: DealHistory

    def read_whole(self) -> DealHistory:
        return read_piece(self.folder, self.start, self.stop, self.like)


def first_pass(part: HistorySlice) -> dict[str, Any]:
    """On a worker, one read of a slice: what this process keeps of it (`SUMMARY_COLUMNS` of its
    deals, its deal columns), the leak check's first pass (`export_leaks.slice_dates`) and its
    sorted row hashes (`piece_hashes`), kept on the worker."""
    from forecast import export_leaks
    from forecast.forecasting.rep_calls import has_calls

    piece = part.read()
    kept = [*SUMMARY_COLUMNS, *(c for c in OPTIONAL_SUMMARY_COLUMNS if c in piece.deals)]
    return {
        "facts": {
            "summary": piece.final_deals[kept].reset_index(drop=True),  # closes as read here
            "columns": column_names(piece.deals),
            "end": piece.end if len(piece.deals) else None,
            "calls": has_calls(piece.deals),
            "values": distinct_values(piece.deals, piece.attributes),
            "rate_bases": rate_base_counts(piece.deals),
        },
        "dates": export_leaks.slice_dates(piece),
        "hashes": piece_hashes(piece),
    }


def leak_counts(part: HistorySlice, bands: dict[str, np.ndarray]) -> dict[str, Any]:
    """On a worker, a second read of a slice: the leak check's counts (`export_leaks.
    slice_counts`)."""
    from forecast import export_leaks

    return export_leaks.slice_counts(part.read(), bands)


def piece_hashes(piece: DealHistory) -> dict[str, np.ndarray]:
    """On a worker: a slice's row hashes, sorted: its deals', its stage history's (as
    `data.fingerprint` hashes them) and its deal ids'."""
    return {
        "deals": np.sort(row_hashes(piece.deals)),
        "log": np.sort(row_hashes(piece.stage_log)),
        "ids": np.sort(row_hashes(piece.deals[["id"]])),
    }


def hashes_between(hashes: dict[str, np.ndarray], kind: str, low: int, high: int) -> np.ndarray:
    """On a worker: a slice's sorted `kind` hashes in [low, high)."""
    found = hashes[kind]
    a = int(np.searchsorted(found, np.uint64(low)))
    b = len(found) if high >= 2**64 else int(np.searchsorted(found, np.uint64(high)))
    return found[a:b]


def hash_count(hashes: dict[str, np.ndarray], kind: str) -> int:
    """On a worker: how many `kind` hashes a slice has."""
    return len(hashes[kind])


@dataclass
class PartitionedExport:
    """A dataset read by partition: its slices of deals in deal order (`slices`, read on the
    workers where a task needs them); here `summary`, a history whose deals hold
    `SUMMARY_COLUMNS` only (no other field, no stage history) with the run's left-out fields,
    the data's fingerprint, its newest date (`DealHistory.end` of the whole) and whether it
    holds reps' calls (`rep_calls.has_calls`)."""

    summary: DealHistory
    slices: list[HistorySlice]
    fingerprint: str
    field_names: dict[str, str] = field(default_factory=dict)
    end: pd.Timestamp | None = None
    has_calls: bool = False

    def slices_leaving_out(self, history: DealHistory) -> list[HistorySlice]:
        """The slices, each read with `history`'s fields left out (a run's, or the summary's)."""
        return [
            replace(s, left_out=history.left_out, notes=history.leak_notes) for s in self.slices
        ]

    def whole(self, history: DealHistory) -> WholeHistory:
        """What reads every slice as one history, with `history`'s fields left out: for work
        that needs every deal at once (a backtest's fits), read on a worker, never here."""
        return WholeHistory(tuple(self.slices_leaving_out(history)))


@dataclass(frozen=True)
class WholeHistory:
    """Every slice of a dataset read as one history, where `read()` runs (`runner.Runner.
    share_read`: once on each worker): the history the dataset read whole gives."""

    slices: tuple[HistorySlice, ...]

    def read(self) -> DealHistory:
        pieces = [part.read() for part in self.slices]
        first = pieces[0]
        whole = DealHistory.from_frames(
            pd.concat([p.deals for p in pieces], ignore_index=True),
            pd.concat([p.stage_log for p in pieces], ignore_index=True),
            first.stages,
            field_log=pd.concat([p.field_log for p in pieces], ignore_index=True),
            options=first.options,
            name=first.name,
            check_leaks=False,
        )
        return replace(whole, left_out=first.left_out, leak_notes=first.leak_notes)


def read_partitioned(client: Client, folder: Path, parts: int | None = None) -> PartitionedExport:
    """The export read by partition on the cluster: each worker reads its slices of the deals
    and their stage history; this process gets counts and a few columns (see the module
    docstring)."""
    import pyarrow.parquet as pq

    from forecast.dask_rows import partition_count

    stages = canonical_stages()
    file = folder / DEALS_FILE
    try:
        schema = pq.ParquetFile(file).schema_arrow
        n = pq.ParquetFile(file).metadata.num_rows
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{file}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in ("id", "created_at", "stage", "closed_at") if c not in schema.names]
    if missing:
        raise InvalidInput(f"{file} lacks required column(s) {missing}")
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    n_parts = parts or partition_count(n, workers)
    bounds = np.linspace(0, n, n_parts + 1).round().astype(np.int64)
    # A canonical export has no mapping: default options, so no dataset columns of its own
    # (the identifier check of `DealHistory.from_frames` has nothing to look at).
    like = slices_like(stages, folder.name)
    slices = [
        ExportSlice(folder, int(a), int(b), like)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        if b > a
    ]
    return read_slices(client, slices, like)


def slices_like(stages: StageSet, name: str, options: Any = None) -> DealHistory:
    """An empty history with a dataset's stages, options and name: what each slice's read and
    the summary take them from."""
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in STAGE_LOG_COLUMNS})
    empty["entered_at"] = pd.Series(dtype="datetime64[us]")
    return DealHistory(
        pd.DataFrame(),
        empty,
        pd.DataFrame(),
        stages,
        options=options or DatasetOptions(),
        name=name,
    )


def read_slices(client: Client, slices: Sequence[Any], like: DealHistory) -> PartitionedExport:
    """A dataset read as `slices` on the cluster (anything whose `read()` gives a slice's
    history on a worker: `ExportSlice`, `store_slices.StoreSlice`), `like` its stages, options
    and name: the leak check, the fingerprint and the summary (see the module docstring)."""
    from forecast import export_leaks

    first = [client.submit(first_pass, part) for part in slices]
    facts = client.gather([client.submit(operator.getitem, f, "facts") for f in first])
    dates = [client.submit(operator.getitem, f, "dates") for f in first]
    hashes = [client.submit(operator.getitem, f, "hashes") for f in first]
    del first  # what a slice's first pass made is kept apart: each let go once read
    # The export-state leak check over the slices (`export_leaks.leaks_from_counts`).
    bands = client.submit(export_leaks.slice_bands, dates)
    counts = [
        client.submit(leak_counts, part, client.submit(export_leaks.bands_of, bands, i))
        for i, part in enumerate(slices)
    ]
    findings = export_leaks.leaks_from_counts(
        client.gather([client.submit(export_leaks.without_dates, d) for d in dates]),
        client.gather(counts),
    )
    del dates, bands, counts
    digest = _fingerprint(client, hashes, facts[0]["columns"] if facts else b"")
    del hashes
    if len(facts):
        deals = pd.concat([f["summary"] for f in facts], ignore_index=True)
    else:
        deals = pd.DataFrame({c: pd.Series(dtype=object) for c in SUMMARY_COLUMNS})
    summary = DealHistory(
        deals, like.stage_log, pd.DataFrame(), like.stages, options=like.options, name=like.name
    )
    summary = summary.leaving_out([f.field for f in findings], [f.note for f in findings])
    # As `DealHistory.from_frames` does after the leak check: identifiers are left out too.
    own = dict.fromkeys(c for f in facts for c in f["values"])
    kept = [c for c in like.options.features if c in own and c not in summary.left_out]
    named = identifiers_in([f["values"] for f in facts], kept)
    summary = summary.leaving_out(named, identifier_notes(named))
    counted = {b: sum(f["rate_bases"][b] for f in facts) for b in RATE_BASES}
    absent = unrated_bases(counted) if len(deals) else {}
    summary = summary.leaving_out(absent, absent.values())
    ends = [f["end"] for f in facts if f["end"] is not None]
    return PartitionedExport(
        summary,
        list(slices),
        digest,
        end=max(ends) if ends else None,
        has_calls=any(f["calls"] for f in facts),
    )


def _fingerprint(client: Client, hashes: list[Future], deal_columns: bytes) -> str:
    """`data.fingerprint.fingerprint(deals, stage_log)` of the slices' sorted row hashes
    (`piece_hashes`), a range of hash values at a time; `InvalidInput` where a deal id
    repeats across slices (within one, the last row is kept, as `DealHistory.from_frames`
    keeps it)."""
    digest = hashlib.sha256()
    for kind in ("ids", "deals", "log"):
        total = sum(client.gather([client.submit(hash_count, h, kind) for h in hashes]))
        ranges = 1 << max(0, int(np.ceil(np.log2(max(1, total * 8 / HASH_BYTES)))))
        edges = [i * (2**64 // ranges) for i in range(ranges + 1)]
        for low, high in zip(edges[:-1], edges[1:], strict=True):
            part = np.sort(
                np.concatenate(
                    client.gather(
                        [client.submit(hashes_between, h, kind, low, high) for h in hashes]
                    )
                    or [np.zeros(0, np.uint64)]
                )
            )
            if kind == "ids":
                if len(part) > 1 and bool((part[1:] == part[:-1]).any()):
                    raise InvalidInput(
                        "a deal id appears more than once in the deals table; import the "
                        "export with `forecast import`, which keeps each deal's last row"
                    )
                continue
            digest.update(part.tobytes())
        if kind == "deals":
            digest.update(deal_columns)
        elif kind == "log":
            digest.update("|".join(STAGE_LOG_COLUMNS).encode())
    return digest.hexdigest()[:16]
