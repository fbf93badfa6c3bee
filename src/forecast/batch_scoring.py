"""Batch scoring: every open deal or every lead of a dataset, scored as the API scores one.

The rows: for deals, the deals open at the data's now, each as known then (`timing.pipeline_rows`,
the as-of rule: stage, age, days in stage, fields at their value then, the rep's and account's
win rates over deals closed before), exactly what the deals-at-risk page scores; for leads, every
lead's attributes as stored. The scorer: the champion the API serves (`scoring.Served`), or where
none is registered the fallback the API would use (the per-stage historical win rate of the
data, the base rate of its labelled leads), said in `BatchScorer.note`.

`score_part` scores one partition through `scoring.score` (so probabilities, scores, grades and
reasons are the API's); `score_batch` maps it over partitions with `forecast.runner`: in process,
or on a Dask cluster where the scorer is sent once to each worker and each partition is scored
where it lies. Results come back in row order either way, so the two give the same rows.
Writing them (Parquet, the store) is `forecast.batch_output`.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from forecast import dask_rows, scoring
from forecast import features as feat
from forecast import timing as tm
from forecast.column_rows import ColumnRows
from forecast.data import store
from forecast.errors import InvalidInput, ModelNotReady
from forecast.history import DealHistory
from forecast.model_set import deal_fallback, read_as_imported
from forecast.modeling import lead_dates, registry
from forecast.modeling.baselines import StageWinRate, history_stage_sums, stage_win_rates
from forecast.modeling.families import family_of
from forecast.modeling.registry.client import store_missing
from forecast.modeling.registry.client import visit as registry_visit
from forecast.modeling.scorers import select_scorer
from forecast.runner import runner
from forecast.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

    from forecast.parquet_export import PartitionedExport

log = logging.getLogger("forecast.batch_scoring")

KINDS = (scoring.DEAL, scoring.LEAD)
#: Rows per partition: enough to amortise a task, small enough to spread over a few workers.
PARTITION_ROWS = 25_000
#: On a cluster, partitions shrink (not below this) until each worker has two to score.
MIN_CLUSTER_PARTITION_ROWS = 2_000
#: The columns of a scored batch, in order (`reasons_*` hold the API's reasons as JSON text;
#: `notes` the API's notes, as a JSON list of text: a deal older than any the model learnt
#: from, a lead's value the model could not use; `[]` where there is nothing to say).
COLUMNS = (
    "id",
    "probability",
    "score",
    "grade",
    "model",
    "version",
    "method",
    "reasons_for",
    "reasons_against",
    "notes",
)
#: The same as Arrow types: what a partition's scores travel and are written as.
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("probability", pa.float64()),
        ("score", pa.int64()),
        ("grade", pa.string()),
        ("model", pa.string()),
        ("version", pa.string()),
        ("method", pa.string()),
        ("reasons_for", pa.string()),
        ("reasons_against", pa.string()),
        ("notes", pa.string()),
    ]
)


@dataclass(frozen=True)
class BatchRows:
    """What a batch scores: `frame` holds `id` and the inputs, one row per deal or lead; or,
    built on a cluster from a dataset read by partition, `parts`: futures of such frames, kept
    on the workers until scored (`frame` is then empty)."""

    kind: str
    dataset: str
    frame: pd.DataFrame
    as_of: pd.Timestamp | None = None  # deals: the instant the open deals are seen at
    parts: list[Any] | None = None
    #: What the run's summary should say about the rows (leads scored as undated, ...).
    notes: tuple[str, ...] = ()


@dataclass
class BatchScorer:
    """The model a batch is scored by, and in words why that one (a fallback says so)."""

    served: scoring.Served
    note: str | None = None

    @property
    def label(self) -> str:
        return self.served.scorer.label


@dataclass
class BatchSummary:
    """What a run scored, with what, where, and how fast."""

    kind: str
    dataset: str
    rows: int
    partitions: int
    model: str
    version: str | None
    method: str
    label: str
    where: str
    seconds: float  # scoring and writing: what `rows_per_second` counts
    as_of: pd.Timestamp | None = None
    out: str | None = None
    stored: int | None = None
    notes: list[str] = field(default_factory=list)
    #: Reading the rows and loading the model before (a command's; None where not timed).
    reading_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "rows": self.rows,
            "partitions": self.partitions,
            "model": self.model,
            "version": self.version,
            "method": self.method,
            "label": self.label,
            "where": self.where,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
            "reading_seconds": (
                None if self.reading_seconds is None else round(self.reading_seconds, 3)
            ),
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "out": self.out,
            "stored": self.stored,
            "notes": self.notes,
        }


def _no_champion(kind: str, dataset: str | None, settings: Settings) -> str:
    """Why no model scores: none trained on the dataset, or its versions not promoted (a
    candidate kept because it did not beat the baselines is no champion: which one, and where
    its decision is said)."""
    of = f" for dataset '{dataset}'" if dataset else ""
    untrained = f"no {kind} model is registered as champion{of} (run `forecast train {kind}`)"
    if dataset is None or store_missing(settings):  # nothing trained here: no store to read
        return untrained
    try:
        kept = [
            row
            for row in registry.list_models(settings)
            if row["kind"] == kind and row["dataset"] == dataset
        ]
    except Exception:  # noqa: BLE001 - the fallback scores whatever the registry says
        log.debug("registry not listed for the no-champion note", exc_info=True)
        return untrained
    if not kept:
        return untrained
    newest = kept[0]
    return (
        f"no {kind} model is champion{of}: v{newest['version']} was trained but not promoted "
        f"(why: `forecast models show {kind} --dataset {dataset} --version "
        f"{newest['version']}`)"
    )


# --- what to score ------------------------------------------------------------------------------


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def open_deal_rows(history: DealHistory, dataset: str, as_of: object = None) -> BatchRows:
    """The deals open at `as_of` (default: the data's now), each with the model's inputs as known
    then, as the API and the deals-at-risk page build them."""
    t = history.now() if as_of is None else pd.Timestamp(as_of)
    inputs = feat.model_features(attributes=history.attributes)  # the dataset's own columns too
    return BatchRows(
        scoring.DEAL, dataset, _scored_columns(tm.pipeline_rows(history, t), inputs), t
    )


def _scored_columns(rows: pd.DataFrame, inputs: list[str]) -> pd.DataFrame:
    """`id` (as text) and the model inputs of pipeline rows."""
    frame = rows[["id", *(c for c in inputs if c in rows)]].reset_index(drop=True)
    frame["id"] = frame["id"].astype(str)
    return frame


def open_deal_parts(client: Client, source: PartitionedExport) -> BatchRows:
    """`open_deal_rows` of a dataset read by partition (`parquet_export.read_partitioned`,
    `store_slices.read_store_partitioned`), built on the workers slice by slice: the data's
    now is the latest of the slices', every close is indexed once on a worker (the reps' and
    accounts' win rates read them all), and each slice's rows stay there until scored. The
    rows are those of the whole history, in its slices' order."""
    history = source.summary
    pieces = source.slices_leaving_out(history)
    first = [client.submit(_now_and_closes, p) for p in pieces]
    t = max(client.gather([client.submit(operator.getitem, f, 0) for f in first]))
    closes = client.submit(
        dask_rows.past_closes, *[client.submit(operator.getitem, f, 1) for f in first]
    )
    del first
    inputs = feat.model_features(attributes=history.attributes)
    parts = [client.submit(_open_rows_part, p, closes, t, inputs) for p in pieces]
    empty = pd.DataFrame({"id": pd.Series(dtype=str)})
    return BatchRows(scoring.DEAL, str(history.name), empty, t, parts)


def _now_and_closes(piece: Any) -> tuple[pd.Timestamp, pd.DataFrame]:
    """On a worker: a slice's now (`DealHistory.now`) and its closes without ids."""
    history = dask_rows.opened(piece)
    return history.now(), history.closed_outcomes().drop(columns="id")


def _open_rows_part(
    piece: Any, closes: feat.PastCloses, t: pd.Timestamp, inputs: list[str]
) -> pd.DataFrame:
    """On a worker: a slice's open deals at `t` as `open_deal_rows` makes them."""
    return _scored_columns(feat.open_deal_rows(dask_rows.opened(piece), t, closes), inputs)


def stage_rates_of_parts(client: Client, source: PartitionedExport) -> StageWinRate | None:
    """`stage_win_rates` of a dataset read by partition: each slice's per-stage sums on a
    worker, added up here (the fallback's rates when no deal model is registered)."""
    pieces = source.slices_leaving_out(source.summary)
    sums = client.gather([client.submit(_stage_sums_part, p) for p in pieces])
    total = pd.concat(sums) if sums else pd.DataFrame(columns=["yw", "w"])
    if len(total) == 0 or float(total["w"].sum()) <= 0:
        return None
    return StageWinRate().fit_sums(total)


def _stage_sums_part(piece: Any) -> pd.DataFrame:
    return history_stage_sums(dask_rows.opened(piece))


def lead_rows(leads: pd.DataFrame, dataset: str) -> BatchRows:
    """Every lead, with its stored attributes as the API receives a lead's fields (and its
    `created_at`, which a model that learnt from lead dates reads), and what the summary says
    of undated leads."""
    frame = _lead_frame(leads, dataset)
    undated = _undated(frame)
    return BatchRows(scoring.LEAD, dataset, frame, notes=_undated_notes([undated]))


def _lead_frame(leads: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """`id` (as text) and the attributes of every lead."""
    if "id" not in leads:
        raise InvalidInput(f"dataset {dataset!r}: its leads have no id column")
    attrs = [c for c in leads.columns if c not in feat.LEAD_BOOKKEEPING]
    attrs += ["created_at"] if "created_at" in leads.columns else []
    frame = leads[["id", *attrs]].reset_index(drop=True)
    frame["id"] = frame["id"].astype(str)
    return frame


def lead_parts(client: Client, slices: list[Any], dataset: str) -> tuple[BatchRows, pd.Series]:
    """`lead_rows` of a stored leads dataset read by slice on the workers
    (`store_slices.lead_slices`): each slice's rows stay there until scored; here, what the
    summary says of undated leads over all slices, and the labels a fallback's conversion rate
    is read from (only the 0/1 `converted` of each labelled lead)."""
    made = [client.submit(_lead_part, part, dataset) for part in slices]
    facts = client.gather([client.submit(operator.getitem, m, 1) for m in made])
    parts = [client.submit(operator.getitem, m, 0) for m in made]
    del made
    notes = _undated_notes([f["undated"] for f in facts])
    labels = pd.concat([f["labels"] for f in facts] or [pd.Series(dtype=float)], ignore_index=True)
    empty = pd.DataFrame({"id": pd.Series(dtype=str)})
    return BatchRows(scoring.LEAD, dataset, empty, parts=parts, notes=notes), labels


def _lead_part(part: Any, dataset: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """On a worker: a slice's leads as `lead_rows` makes them, and what the run reads of them
    here (its undated leads: how many, the first; its labels)."""
    leads = part.read()
    frame = _lead_frame(leads, dataset)
    labels = (
        pd.to_numeric(leads["converted"], errors="coerce").dropna()
        if "converted" in leads
        else pd.Series(dtype=float)
    )
    return frame, {"undated": _undated(frame), "labels": labels.reset_index(drop=True)}


#: Leads whose `created_at` could not be read: how many, and the first one's id and value.
Undated = tuple[int, str, Any]


def _undated(frame: pd.DataFrame) -> Undated | None:
    """The leads of `frame` with a created_at that is no date, before 1900 or in the future."""
    if "created_at" not in frame:
        return None
    bad = lead_dates.unreadable(frame["created_at"].astype(object))
    if not bad:
        return None
    i, value = bad[0]
    return len(bad), str(frame["id"].iloc[i]), value


def _undated_notes(found: list[Undated | None]) -> tuple[str, ...]:
    """What a batch says of its undated leads (found slice by slice): how many, one example,
    and how they were scored (the API refuses such a lead with a 422); nothing where none."""
    seen = [u for u in found if u is not None]
    if not seen:
        return ()
    _, lead, value = seen[0]
    return (
        f"{sum(n for n, _, _ in seen):,} lead(s) with a created_at that is no date, before 1900 "
        f"or in the future, scored as undated (e.g. lead {lead}: {_date_text(value)!r})",
    )


def _date_text(value: Any) -> Any:
    """A creation date as a file writes it ('1890-01-01', '1890-01-01 10:30:00'), not in
    Python's spelling (Timestamp('1890-01-01 00:00:00')); text as it came."""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat(" ")
    return value


# --- with what ----------------------------------------------------------------------------------


def batch_scorer(
    kind: str,
    settings: Settings,
    *,
    dataset: str | None = None,
    history: DealHistory | None = None,
    leads: pd.DataFrame | None = None,
    stage_rates: Callable[[], StageWinRate | None] | None = None,
) -> BatchScorer:
    """The registered champion of `dataset` for `kind` (as the API loads it, from the registry or
    its local copy; each dataset has its own), else the fallback the API would use on this data:
    the per-stage historical win rate of `history` for deals (or what `stage_rates` gives, for
    a history read by partition), the conversion rate of the labelled `leads`. Raises
    `ModelNotReady` when there is neither.

    `dataset` None: the only dataset with a champion of `kind` (several: `InvalidInput`)."""
    check_kind(kind)
    problem = None
    loaded = None
    with registry_visit(settings):
        try:
            loaded = registry.load_champion(kind, settings, dataset=dataset)
        except ModelNotReady as exc:
            problem = str(exc)
    if loaded is not None:
        scorer = select_scorer(loaded.model)
        served = scoring.Served(
            kind, scorer, loaded.version, loaded.source, {}, loaded.dataset or dataset
        )
        read_as_imported(store.get_engine(settings), served)  # its reasons write numbers so
        family = family_of(loaded.model).replace("_", " ")
        scorer.label = f"model {served.name} v{loaded.version} ({family})"
        note = (
            f"the registry could not be reached: the local copy of v{loaded.version} scored"
            if loaded.source == "local copy"
            else None
        )
        return BatchScorer(served, note)
    why = problem or _no_champion(kind, dataset, settings)
    if kind == scoring.DEAL:
        rates = None
        if stage_rates is not None:
            rates = stage_rates()
        elif history is not None and not history.deals.empty:
            rates = stage_win_rates(history)
        if rates is None and (history is None or history.deals.empty):
            raise ModelNotReady(f"no deal model and no deal history to fall back on: {why}")
        scorer = deal_fallback(history, rates)
    else:
        labels = (
            pd.to_numeric(leads["converted"], errors="coerce").dropna()
            if leads is not None and "converted" in leads
            else pd.Series(dtype=float)
        )
        if labels.empty:
            raise ModelNotReady(f"no lead model and no labelled leads to fall back on: {why}")
        scorer = select_scorer(None, base_rate=float(labels.mean()))
    note = f"{why}: scored as the API would, by its {scorer.label}"
    if not scorer.ranks:
        note += f" ({scoring.NO_GRADE[kind]})"
    served = scoring.Served(kind, scorer, None, "fallback", {}, dataset)
    read_as_imported(store.get_engine(settings), served)
    return BatchScorer(served, note)


# --- scoring ------------------------------------------------------------------------------------


def records(frame: pd.DataFrame) -> Sequence[dict[str, Any]]:
    """Rows as the API's scoring takes them: field → plain value, blanks as None; the same
    rows as `to_dict("records")` gives, made column by column. `to_dict` boxes each value in a
    Python call (125 ms for 10,000 leads of 25 inputs, three times their scoring); a column of
    plain values (text, numbers, yes/no, blanks) is taken as it is, and the rows are held as
    those columns (`ColumnRows`: encoding reads a column, not 10,000 rows, and a row's dict is
    made only where a step reads that row). A column holding anything else (a date, a numpy
    number) is boxed as `to_dict` boxes it."""
    sub = frame.astype(object)
    sub = sub.where(sub.notna(), None)
    names = sub.columns.tolist()
    if not names or not sub.columns.is_unique:  # to_dict's own way (it warns of repeated names)
        return sub.to_dict("records")
    columns = []
    for j, name in enumerate(names):
        values = sub.iloc[:, j].tolist()
        if not _PLAIN.issuperset(map(type, values)):
            values = sub.iloc[:, [j]].to_dict("list")[name]
        columns.append(values)
    return ColumnRows(dict(zip(names, columns, strict=True)))


#: The types of value `to_dict` leaves as they are (a `float` stays that float).
_PLAIN = frozenset({str, float, int, bool, type(None)})


def score_part(part: pd.DataFrame, served: scoring.Served, top: int) -> pd.DataFrame:
    """One partition scored: a row per input row, in its order, with the API's probability,
    score, grade, `top` reasons for and against (JSON text; `[]` with `top=0`) and notes (JSON
    text). The rows' fields are the model's own names, so they are not matched as a client's
    are (`as_sent`): the notes say what `scoring.score` says of any batch (a deal beyond the
    ages the model learnt, a lead's value it could not use), at a cost only where there is."""
    # A lead's unreadable created_at is scored as undated, not refused: one bad row does not
    # stop a batch (`lead_rows` counts them for the summary). A blank one is a lead created at
    # a time not known, not now: undated too, which its notes say.
    scores = scoring.score(served, records(part.drop(columns="id")), top=top, strict_dates=False)
    n = len(scores)
    return pd.DataFrame(
        {
            "id": part["id"].to_numpy(dtype=object),
            "probability": np.fromiter((s.probability for s in scores), float, n),
            "score": np.fromiter((s.score for s in scores), np.int64, n),
            "grade": [s.grade for s in scores],
            "model": [s.model for s in scores],
            "version": [s.version for s in scores],
            "method": [s.method for s in scores],
            "reasons_for": [_json(s.reasons_for) for s in scores],
            "reasons_against": [_json(s.reasons_against) for s in scores],
            "notes": [_json(s.notes) for s in scores],
        },
        columns=list(COLUMNS),
    )


def scored_table(part: pd.DataFrame, served: scoring.Served, top: int) -> pa.Table:
    """`score_part` as an Arrow table of `SCHEMA`: what a worker sends back (columns of buffers
    travel far faster than a frame of Python strings) and what the Parquet file is written from.
    """
    return pa.Table.from_pandas(score_part(part, served, top), SCHEMA, preserve_index=False)


def _json(said: Sequence[Any]) -> str:
    """Reasons or notes as JSON text (`[]` for none, the usual row, without a call), by orjson:
    the standard library's encoder took two thirds of a batch's scoring with reasons."""
    return orjson.dumps(said, default=_plain).decode() if said else "[]"


def _plain(value: Any) -> Any:
    """numpy scalars as the JSON an API response would hold."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def partitions(frame: pd.DataFrame, rows: int = PARTITION_ROWS) -> list[pd.DataFrame]:
    """`frame` cut into consecutive partitions of at most `rows` rows."""
    if rows < 1:
        raise InvalidInput(f"--partition-rows must be at least 1, got {rows}")
    return [frame.iloc[i : i + rows] for i in range(0, len(frame), rows)]


def score_batch(
    served: scoring.Served,
    frame: pd.DataFrame,
    *,
    top: int = 3,
    partition_rows: int = PARTITION_ROWS,
    client: Client | None = None,
) -> Iterator[pa.Table]:
    """Each partition of `frame` (`id` + inputs) scored as an Arrow table (`scored_table`), in
    row order: in process without a client (one partition at a time), else as Dask tasks on its
    cluster (the scorer sent once to each worker, the partitions spread over them, at least two
    per worker where they would hold `MIN_CLUSTER_PARTITION_ROWS` rows). The rows are the same
    either way."""
    check_top(top)
    if "id" not in frame:
        raise InvalidInput("the rows to score have no id column")
    run = runner(client)
    size = partition_rows
    if run.workers > 1:
        even = -(-len(frame) // (2 * run.workers))
        size = min(partition_rows, max(MIN_CLUSTER_PARTITION_ROWS, even))
    return run.map(scored_table, partitions(frame, size), run.share(served), top)


def score_parts(
    served: scoring.Served, parts: list[Any], *, top: int = 3, client: Client
) -> Iterator[pa.Table]:
    """`score_batch` of rows already on the cluster (`BatchRows.parts`), a task per part where
    it is held."""
    check_top(top)
    run = runner(client)
    shared = run.share(served)
    return run.results([run.submit(scored_table, part, shared, top) for part in parts])


def check_top(top: int) -> None:
    if top < 0:
        raise InvalidInput(f"--reasons must be 0 or more, got {top}")
