"""Where a scored batch goes: a Parquet or CSV file, and the store's `batch_scores` for the
dashboard.

The file is written partition by partition (a Parquet row group each; CSV rows under one header
row, UTF-8, the same columns with the reasons and notes as the same JSON text) to a temporary
file beside the target and renamed into place at the end, so a failed run leaves the previous
file whole. The store keeps one batch per dataset and kind: `store_batch` deletes the previous
one and inserts the new one in one transaction, so a reader sees the old batch or the new, never
a mix; it reads the finished file back, so the store's write lock is held only while writing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select

from forecast.batch_scoring import (
    COLUMNS,
    PARTITION_ROWS,
    SCHEMA,
    BatchRows,
    BatchScorer,
    BatchSummary,
    score_batch,
    score_parts,
)
from forecast.data import store
from forecast.data.tables import batch_scores
from forecast.errors import InvalidInput
from forecast.model_set import LEAD
from forecast.modeling.lead_dates import CREATED
from forecast.modeling.scorers import MODEL
from forecast.runner import runner
from forecast.scoring import lead_fields_of

if TYPE_CHECKING:
    from distributed import Client

#: Rows per INSERT statement when storing a batch.
INSERT_ROWS = 5_000
#: The model inputs a batch lacks are named up to this many in its summary.
MISSING_NAMED = 5
#: The files a batch is written as, by name: Parquet for tools, CSV for a spreadsheet.
OUT_SUFFIXES = (".parquet", ".csv")
#: How a scored CSV is read back: its columns' types, an empty cell blank (no grade) and a
#: quoted empty text kept as text.
_CSV_READ = pcsv.ConvertOptions(
    column_types=SCHEMA, strings_can_be_null=True, quoted_strings_can_be_null=False
)


def check_out(path: str | Path) -> Path:
    """The `--out` file, checked before any scoring: a .parquet or .csv path in a folder that
    exists and takes a file (tried by making the partial file the writer makes: a folder the
    user cannot write is said now, not after the whole batch was scored)."""
    out = Path(path)
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise InvalidInput(
            f"--out: {str(path)!r} is neither a .parquet nor a .csv file name "
            "(scores.parquet for tools, scores.csv for a spreadsheet)"
        )
    if not out.parent.is_dir():
        raise InvalidInput(f"--out: the folder {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise InvalidInput(f"--out: {str(path)!r} is a folder, not a file")
    partial = _partial(out)
    try:
        partial.open("wb").close()
        partial.unlink()
    except OSError as exc:
        raise InvalidInput(
            f"--out: cannot write in the folder {str(out.parent)!r}: {exc.strerror or exc}"
        ) from None
    return out


def _partial(out: Path) -> Path:
    """The temporary file beside `out` that a batch is written to before it is moved into place."""
    return out.with_name(f".{out.name}.partial")


def is_csv(path: str | Path) -> bool:
    """Whether a batch file is (to be) written as CSV rather than Parquet, by its name."""
    return Path(path).suffix.lower() == ".csv"


def write_scores(parts: Iterable[pa.Table | pd.DataFrame], path: str | Path) -> tuple[int, int]:
    """Write scored partitions as one file, CSV or Parquet by its name; (rows, partitions)."""
    return write_parquet(parts, path, csv=is_csv(path))


def write_parquet(
    parts: Iterable[pa.Table | pd.DataFrame], path: str | Path, *, csv: bool = False
) -> tuple[int, int]:
    """Write scored partitions (Arrow tables or frames of `COLUMNS`), in order, as one Parquet
    file (with `csv`, one UTF-8 CSV file of the same columns); (rows, partitions) written."""
    out = Path(path)
    partial = _partial(out)
    rows = count = 0
    try:
        opened = pcsv.CSVWriter(partial, SCHEMA) if csv else pq.ParquetWriter(partial, SCHEMA)
        with opened as writer:
            for part in parts:
                table = (
                    part
                    if isinstance(part, pa.Table)
                    else pa.Table.from_pandas(part, SCHEMA, preserve_index=False)
                )
                writer.write_table(table)
                rows += table.num_rows
                count += 1
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return rows, count


def run_batch(
    rows: BatchRows,
    scorer: BatchScorer,
    out: str | Path,
    *,
    top: int = 3,
    partition_rows: int = PARTITION_ROWS,
    client: Client | None = None,
) -> BatchSummary:
    """Score `rows` with `scorer` partition by partition (on `client`'s cluster if given) into
    the Parquet or CSV file `out`; what was scored, by what, where and how fast."""
    started = time.perf_counter()
    absent: list[str] = []
    if rows.parts is not None and client is not None:  # built on the cluster: scored there
        parts = score_parts(scorer.served, rows.parts, top=top, client=client)
    else:
        rows, absent = _named_as_learnt(scorer.served, rows)
        absent += absent_inputs(scorer.served, rows)
        parts = score_batch(
            scorer.served, rows.frame, top=top, partition_rows=partition_rows, client=client
        )
    n, count = write_scores(parts, out)
    served = scorer.served
    return BatchSummary(
        kind=rows.kind,
        dataset=rows.dataset,
        rows=n,
        partitions=count,
        model=served.name,
        version=served.version,
        method=served.scorer.method,
        label=scorer.label,
        where=runner(client).where,
        seconds=time.perf_counter() - started,
        as_of=rows.as_of,
        out=str(out),
        notes=[*rows.notes, *([scorer.note] if scorer.note else []), *absent],
    )


def _named_as_learnt(served: Any, rows: BatchRows) -> tuple[BatchRows, list[str]]:
    """A leads file's columns that are model inputs spelt otherwise ('original source' for
    'Original Source'), read under the input's name as the API reads a lead's fields, and said."""
    if rows.kind != LEAD or served.scorer.method != MODEL or rows.frame.empty:
        return rows, []
    renamed = lead_fields_of(served).columns_as_learnt(list(rows.frame.columns))
    if not renamed:
        return rows, []
    said = ", ".join(f"{name!r} as {own!r}" for name, own in renamed.items())
    return replace(rows, frame=rows.frame.rename(columns=renamed)), [
        f"columns read as the model's inputs spelt otherwise: {said}"
    ]


def absent_inputs(served: Any, rows: BatchRows) -> list[str]:
    """What the summary says of the model's inputs the rows do not give (not a column of the
    file, or blank in every row): every row is scored as if each were blank, as the API scores a
    field not sent. None of them given is refused: a file that shares nothing with what the
    model learnt from is the wrong file, and grading its rows would only look confident."""
    fitted = served.scorer.model if served.scorer.method == MODEL else None
    fitted = getattr(fitted, "global_", fitted)  # per-team models share the inputs
    encoder = getattr(fitted, "encoder_", None)
    frame = rows.frame
    if encoder is None or frame.empty:
        return []
    dated = set(served.date_inputs) if rows.kind == LEAD else set()
    inputs = [c for c in encoder.columns if c not in dated]
    if dated:  # a lead's day and hour are read from its creation date
        inputs.append(CREATED)
    missing = [c for c in inputs if c not in frame.columns or frame[c].isna().all()]
    if not missing:
        return []
    named = _named(missing)
    if len(missing) == len(inputs):
        raise InvalidInput(
            f"none of the {served.kind} model's {len(inputs)} inputs is given in the "
            f"{rows.kind} (not a column, or blank in every row: {named}): is it an export "
            "of the data the model learnt from?"
        )
    said = [
        f"{len(missing)} of the model's {len(inputs)} inputs not given (not a column of the "
        f"{rows.kind}, or blank in every row), scored as blank: {named}"
    ]
    # A lead file keeps its own column names: one the model does not read may be a missing
    # input spelt otherwise ('Lead Sorce'), which the two lists side by side show.
    unread = [c for c in frame.columns if c not in {"id", CREATED, *inputs, *dated}]
    if rows.kind == LEAD and unread:
        said.append(
            f"{len(unread)} column{'s' if len(unread) != 1 else ''} of the leads the model does "
            f"not read (a missing input may be one of them, named otherwise): {_named(unread)}"
        )
    return said


def _named(columns: list[str]) -> str:
    """The first `MISSING_NAMED` of `columns`, quoted, and how many more."""
    more = len(columns) - MISSING_NAMED
    return ", ".join(repr(c) for c in columns[:MISSING_NAMED]) + (
        f" and {more:,} more" if more > 0 else ""
    )


def read_parquet(path: str | Path) -> pd.DataFrame:
    """A scored batch as written, Parquet or CSV (the columns of `batch_scoring.COLUMNS`)."""
    if is_csv(path):
        return pcsv.read_csv(path, convert_options=_CSV_READ).to_pandas()[list(COLUMNS)]
    return pq.read_table(path, schema=SCHEMA).to_pandas()[list(COLUMNS)]


def _batches(path: str | Path) -> Iterable[pa.RecordBatch]:
    """A written batch file's rows, `INSERT_ROWS` at a time (a CSV: a block of it at a time)."""
    if is_csv(path):  # streamed, a block at a time, as Parquet's row groups are
        return pcsv.open_csv(path, convert_options=_CSV_READ)
    return pq.ParquetFile(path).iter_batches(batch_size=INSERT_ROWS)


def store_batch(
    engine: Engine,
    dataset: str,
    kind: str,
    path: str | Path,
    *,
    as_of: pd.Timestamp | None = None,
) -> int:
    """Replace the stored batch of `dataset` and `kind` with the scored rows in `path`, in one
    transaction; returns the rows stored."""
    scored_at = store.utcnow()
    when = None if as_of is None else pd.Timestamp(as_of).tz_localize(None).to_pydatetime()
    table = batch_scores
    stored = 0
    with store.transaction(engine) as conn:
        conn.execute(table.delete().where(table.c.dataset == dataset, table.c.kind == kind))
        for batch in _batches(path):
            cols = batch.to_pydict()
            rows = [
                {
                    "dataset": dataset,
                    "kind": kind,
                    "scored_at": scored_at,
                    "as_of": when,
                    "subject_id": ident,
                    "probability": p,
                    "score": s,
                    "grade": g,
                    "model": m,
                    "model_version": v,
                    "method": how,
                    "reasons_for": up,
                    "reasons_against": down,
                    "notes": said,
                }
                for ident, p, s, g, m, v, how, up, down, said in zip(
                    *(cols[c] for c in COLUMNS), strict=True
                )
            ]
            if rows:
                conn.execute(table.insert(), rows)
                stored += len(rows)
    return stored


def stored_batch(engine: Engine, dataset: str, kind: str) -> pd.DataFrame:
    """The stored batch of `dataset` and `kind` (empty when none), in the order it was scored,
    with when it was scored and as of when."""
    t = batch_scores
    query = (
        select(
            t.c.subject_id.label("id"),
            t.c.probability,
            t.c.score,
            t.c.grade,
            t.c.model,
            t.c.model_version.label("version"),
            t.c.method,
            t.c.reasons_for,
            t.c.reasons_against,
            t.c.notes,
            t.c.scored_at,
            t.c.as_of,
        )
        .where(t.c.dataset == dataset, t.c.kind == kind)
        .order_by(t.c.pk)
    )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def stored_batches(engine: Engine) -> pd.DataFrame:
    """One line per stored batch: dataset, kind, when it was scored, rows."""
    t = batch_scores
    query = select(
        t.c.dataset,
        t.c.kind,
        func.max(t.c.scored_at).label("scored_at"),
        func.count().label("rows"),
    ).group_by(t.c.dataset, t.c.kind)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)
