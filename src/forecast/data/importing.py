"""Import a CRM export into the store: read in chunks, validate, map, upsert, keep stage history.

One import is one transaction: on `on_error="reject"` (the default) any problem rolls back the
whole file and the report says what and where; on `"skip"` the good rows are written and the bad
ones reported. Re-importing the same file changes nothing; a newer export appends stage changes
to the history instead of overwriting it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy import Connection, Engine

from forecast.data import currencies, dataset_rows, store
from forecast.data.csat_scale import kept_scale, options_as_read, save_read_scale
from forecast.data.date_fixes import DateFixes
from forecast.data.export_columns import ExportColumns, refuse_draft_blanks
from forecast.data.file_chunks import FileChunks
from forecast.data.history_file import HistoryFileRows
from forecast.data.joins import JoinedFiles
from forecast.data.lead_rows import LeadRows, status_note, unlabelled_note
from forecast.data.mapping import (
    CsvOptions,
    ExistsIn,
    Mapping,
    load_mapping,
)
from forecast.data.mapping_detect import detect_mapping, only_data_file
from forecast.data.reading import (
    file_encoding,
    header,
    is_parquet,
    iter_table,
    read_table,
    sniff_separator,
)
from forecast.data.rows import DATE_FIELDS, canonical_stage
from forecast.data.stages import StageSet
from forecast.data.validation import ImportReport
from forecast.errors import ImportRejected, InvalidInput
from forecast.history import as_timestamp

OnError = Literal["reject", "skip"]


@dataclass
class Export:
    """A whole export read into canonical frames (no store involved)."""

    kind: str
    dataset: str
    stages: StageSet | None
    opportunities: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Deals' fields as a history file gives them at each of its rows (none: the export's only).
    fields: pd.DataFrame = field(default_factory=pd.DataFrame)
    leads: pd.DataFrame = field(default_factory=pd.DataFrame)
    leak_columns: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    report: ImportReport | None = None

    def field_log(self) -> pd.DataFrame | None:
        """The deals' field observations: each deal's export row and, where a history file
        gave them, its fields at each history row; None where there is only the export's."""
        if self.fields.empty:
            return None
        from forecast.history import observations_of  # the history reads the store's modules

        return observations_of(pd.concat([self.opportunities, self.fields], ignore_index=True))


def read_export(
    path: str | Path,
    mapping: str | Path | Mapping | None = None,
    *,
    on_error: OnError = "reject",
    export_date: object = None,
) -> Export:
    """Read and validate an export into canonical frames, without writing anywhere."""
    job = _Job(Path(path), mapping, on_error, export_date=export_date)
    opps, hist, leads, fields = [], [], [], []
    for part in job.parts(stored=None):
        opps.append(part.opportunities)
        hist.append(part.history)
        leads.append(part.leads)
        fields.append(part.fields)
    job.finish()
    m = job.mapping
    export = Export(
        m.kind,
        m.dataset,
        job.stages,
        leak_columns=list(m.leak_columns),
        options=options_as_read(m, job.columns),
        report=job.report,
    )
    if m.kind == "opportunities":
        export.opportunities = store.with_attributes(
            _concat(opps).drop(columns=["dataset"]).reset_index(drop=True),
            m.options.get("features", []),
        )
        export.history = (
            _concat(hist)
            .drop(columns=["dataset"])
            .sort_values(["opportunity_id", "entered_at"], kind="stable")
            .drop_duplicates(["opportunity_id", "stage", "entered_at"])
            .reset_index(drop=True)
        )
        export.fields = _concat(fields).reset_index(drop=True)
    else:
        frame = _concat(leads)
        if frame.empty:  # no row read (every line blank or a footer): no lead, no column
            frame = pd.DataFrame(
                columns=["id", "converted", "created_at", "converted_at", "attributes"]
            )
        attrs = pd.DataFrame(frame["attributes"].tolist(), index=frame.index)
        attrs = store.infer_types(attrs)
        attrs.insert(0, "id", frame["id"])
        attrs["converted"] = frame["converted"].astype("Int64")
        if "created_at" in frame and frame["created_at"].notna().any():
            attrs["created_at"] = frame["created_at"]  # a dated file trains with a time holdout
        if frame["converted_at"].notna().any():
            attrs["converted_at"] = frame["converted_at"]  # ... and an outcome window
        export.leads = attrs.reset_index(drop=True)
    return export


def import_export(
    engine: Engine,
    path: str | Path,
    mapping: str | Path | Mapping | None = None,
    *,
    dataset: str | None = None,
    on_error: OnError = "reject",
    export_date: object = None,
    chunk_rows: int | None = None,
    replace: bool = False,
) -> ImportReport:
    """Validate and upsert an export in one transaction (`replace`: the old rows go first)."""
    dataset_rows.check_replace(replace, on_error)
    job = _Job(
        Path(path),
        mapping,
        on_error,
        dataset=dataset,
        export_date=export_date,
        chunk_rows=chunk_rows,
    )
    return _write(engine, job, replace)


def import_frame(
    engine: Engine,
    frame: pd.DataFrame,
    mapping: Mapping,
    *,
    dataset: str | None = None,
    on_error: OnError = "reject",
    conn: Connection | None = None,
) -> ImportReport:
    """The same validation and upsert for rows already in memory (e.g. pushed by a CRM).

    Problems name the row by its position in `frame` (from 0) and the file as `request`.
    With `conn` (an open `store.transaction`), the rows are written in it, and it commits or
    rolls back with the caller's other work.
    """
    if frame.empty:
        raise InvalidInput("nothing to import: no rows given")
    job = _Job(frame, mapping, on_error, dataset=dataset)
    if conn is not None:
        return _write_in(conn, job)
    return _write(engine, job)


def canonical_opportunities(frame: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Rows in memory validated and mapped to canonical deal rows, without writing anything
    (raises `ImportRejected` naming each problem, as an import would)."""
    job = _Job(frame, mapping, "reject")
    parts = [part.opportunities for part in job.parts(stored=None)]
    job.finish()
    return store.with_attributes(_concat(parts).reset_index(drop=True), list(job.features))


def _write(engine: Engine, job: _Job, replace: bool = False) -> ImportReport:
    with store.transaction(engine) as conn:
        return _write_in(conn, job, replace)


def _write_in(conn: Connection, job: _Job, replace: bool = False) -> ImportReport:
    m = job.mapping
    version = store.lock_dataset(conn, job.dataset)  # a write changing nothing leaves it
    dataset_rows.same_kind(conn, job.dataset, m.kind)
    if replace:
        job.report.note(dataset_rows.clear(conn, job.dataset, m.kind))
    store.save_dataset(conn, job.dataset, m.kind, job.stages, m.leak_columns, kept_scale(conn, job))
    kept = read = 0  # kept: deals stored at the same update time whose stored values win the tie
    before = 0 if replace or job.frame is not None else dataset_rows.held(conn, job.dataset, m.kind)
    for part in job.parts(stored=conn):
        if not job.writing:
            continue
        read += len(part.opportunities if m.kind == "opportunities" else part.leads)
        if m.kind == "opportunities":
            assert job.stages is not None
            job.report.rows_written += store.upsert_opportunities(
                conn, part.opportunities, job.stages
            )
            kept += store.ties_kept(conn, part.opportunities, job.stages)  # read once written
            job.report.history_rows_written += store.append_history(conn, part.history)
            for observed in (part.opportunities, part.fields):
                job.report.field_rows_written += store.append_field_history(
                    conn, job.dataset, observed
                )
        else:
            leads = part.leads
            outcome = ("converted", "converted_at")  # a label, or one read from its date
            if not any(c in job.columns for c in outcome):  # none: the stored ones stay
                leads = leads.drop(columns=list(outcome), errors="ignore")
            elif "converted_at" not in job.columns:  # no dates in this file: stored ones stay
                leads = leads.drop(columns=["converted_at"], errors="ignore")
            job.report.rows_written += store.upsert_leads(conn, leads)
    job.report.note(store.TIES_KEPT.format(n=kept) if kept else None)
    if job.writing and job.frame is None:  # an export (not a push): checked, a merge said
        job.report.note(dataset_rows.written(conn, job.dataset, m.kind, job.stages, before, read))
        job.report.note(dataset_rows.skipped_open_note(conn, job.dataset, job.skipped_ids))
    save_read_scale(conn, job)  # an export's CSAT scale kept with its dataset, for its pushes
    job.finish()  # raises ImportRejected, which rolls the transaction back
    job.report.written = True
    job.report.changed = str(store.get_dataset(conn, job.dataset)["updated_at"]) != version
    return job.report


# --- the work of one import -------------------------------------------------------------------


@dataclass
class _Part:
    opportunities: pd.DataFrame
    history: pd.DataFrame
    leads: pd.DataFrame
    #: Observations of deals' fields a history file gives (`forecast.data.history_file`).
    fields: pd.DataFrame = field(default_factory=pd.DataFrame)


class _Job(LeadRows, HistoryFileRows, FileChunks, JoinedFiles, ExportColumns):
    """Reads one export chunk by chunk and turns each chunk into canonical rows."""

    def __init__(
        self,
        path: Path | pd.DataFrame,
        mapping: str | Path | Mapping | None,
        on_error: OnError,
        *,
        dataset: str | None = None,
        export_date: object = None,
        chunk_rows: int | None = None,
    ) -> None:
        if on_error not in ("reject", "skip"):
            raise InvalidInput(f"on_error must be 'reject' or 'skip', got {on_error!r}")
        self.frame = path if isinstance(path, pd.DataFrame) else None
        if self.frame is not None:
            path = Path("request")
        elif not path.exists():
            raise InvalidInput(f"{path}: no such file or folder")
        if isinstance(mapping, Mapping):
            self.mapping = mapping
        elif mapping is not None:
            self.mapping = load_mapping(mapping)
        else:
            self.mapping = detect_mapping(path)
        if self.frame is not None:  # rows in memory carry no history file: it is derived
            self.mapping = self.mapping.model_copy(update={"history_file": None})
        self.on_error = on_error
        self.folder = path if path.is_dir() else path.parent
        absent_history = self._absent_optional_history()
        self.main = path if self.frame is not None else self._main_file(path)
        if dataset is not None and not dataset.strip():  # given, but blank: not the mapping's
            raise InvalidInput(
                f"dataset: {dataset!r} is no name; give one, or leave it out to store the "
                f"export as its mapping's {self.mapping.dataset!r}"
            )
        self.dataset = dataset or self.mapping.dataset
        refuse_draft_blanks(self.mapping, self.mapping.column_map())  # before its stages
        self.stages = self.mapping.stage_set if self.mapping.kind == "opportunities" else None
        self.chunk_rows = chunk_rows or 50_000
        self.report = ImportReport(
            dataset=self.dataset, files=[str(self.main)], kind=self.mapping.kind
        )
        self.report.note(absent_history)
        self.csv = self._csv_options()
        self.columns = self.mapping.column_map()
        self.features = self.mapping.feature_labels  # name → the file's column
        self.date_fixes = DateFixes(self.mapping.clock_skew_tolerance)
        self.created_parts: list[pd.Series] = []  # given creation dates by id, per chunk
        self.created_by_id = pd.Series(dtype="datetime64[us]")  # ... all of them, by id
        self.history_value_fields = self._history_value_fields()
        self.deal_field_parts = []
        self.deal_fields = pd.DataFrame()
        self.joins = self._read_joins()
        self.seen_ids: set[str] = set()
        self.currency_counts: Counter[str] = Counter()
        self.converted: dict[str, int] = {}
        self.unknown_stages: Counter[str] = Counter()
        self.unlabelled_leads = 0
        self.main_bad_rows = 0  # rows of the main file with a problem (not the history file's)
        #: File name → (rows with no value, the report footer's lines) its reads left out.
        self.skipped_lines: dict[str, tuple[int, list[str]]] = {}
        #: File name → rows `skip_rows` left out, per rule; the main file's deals so left out.
        self.skipped_by_rule: dict[str, Counter[str]] = {}
        self.skipped_ids: set[str] = set()
        self.history_of_skipped = 0
        self.rejected_ids: set[str] = set()
        self.history_of_rejected = 0
        self.stage_dates = dict(self.mapping.stage_dates)  # stage → column of its entry date
        self.stage_durations: dict[str, str] = {}  # open stage → column of the time spent in it
        self.derived_ids: set[str] | None = None  # the ids an `exists_in` label looks up
        self.first_of: dict[str, list[str]] = {}  # `first_of` field → the file's columns
        self.groupings: dict[str, CsvOptions | None] = {}  # `CanonicalRows._grouping_of`
        self.generated_id = self.mapping.generated_id
        self.whole_row_ids = False  # a lead file without ids: `_id_from_whole_rows`
        self.row_repeats: Counter[str] = Counter()  # whole-row ids seen so far, for numbering
        self.checked_header = False
        #: Join key → (its values a joined file lacks, the columns they miss): `_unmatched`.
        self.unmatched: dict[str, tuple[set[str], list[str]]] = {}
        self._export_date = _parse_one(export_date, "export_date") if export_date else None
        self.export_date_given = self._export_date

    @property
    def export_date(self) -> pd.Timestamp:
        """When the export was made (given, or the newest date in it): the date a row lacking
        `created_at` or `updated_at` takes. Found on first use: an export whose rows all carry
        both never needs the whole-file scan."""
        if self._export_date is None:
            self._export_date = self._scan_export_date()
        return self._export_date

    @property
    def writing(self) -> bool:
        return self.on_error == "skip" or self.report.ok

    # -- files

    def _csv_options(self) -> CsvOptions:
        """The mapping's CSV options, with the main file's separator sniffed (and said so)
        when the mapping names none; other files of the export are sniffed as they are read."""
        csv = self.mapping.csv
        if self.frame is not None or is_parquet(self.main):
            return csv
        csv, said = file_encoding(self.main, csv)
        if said:
            self.report.notes.append(said)
        if csv.separator is not None:
            return csv
        found = sniff_separator(self.main, csv.encoding)
        if found != ",":
            shown = {"\t": "tab"}.get(found, repr(found))
            self.report.notes.append(
                f"{self.main.name}: columns separated by {shown}, detected from the header line "
                "(set the mapping's csv: separator: to choose)"
            )
        return csv

    def _main_file(self, path: Path) -> Path:
        if path.is_file():
            return path
        if not self.mapping.main:
            if only := only_data_file(path):
                return only
            raise InvalidInput(f"{path} is a folder: name the file, or a mapping with `main:`")
        main = path / self.mapping.main
        if not main.is_file():
            raise InvalidInput(f"{path}: missing file {self.mapping.main}")
        return main

    def _sibling(self, name: str) -> Path:
        file = self.folder / name
        if not file.is_file():
            raise InvalidInput(f"{self.folder}: missing file {name} (named by the mapping)")
        self.report.files.append(str(file))
        return file

    # -- the parts

    def parts(self, stored: Connection | None) -> Iterator[_Part]:
        """Canonical rows chunk by chunk; `stored` is a connection when writing to the store."""
        if self._export_date is None and self.frame is None:
            if names := header(self.main, self.csv):
                self._check_columns(pd.DataFrame(columns=names), self.main)  # columns it lacks
        for raw in self._chunks(self.main):
            self._check_columns(raw, self.main)
            raw = self._with_generated_id(self._with_first_of(self._join(self._fix_values(raw))))
            raw = self._with_derived_label(raw)
            self.report.rows_read += len(raw)
            bad_before = self.report.bad_rows
            if self.mapping.kind == "leads":
                part = _Part(pd.DataFrame(), pd.DataFrame(), self._leads(raw))
            else:
                opps, hist = self._opportunities(raw, stored)
                part = _Part(opps, hist, pd.DataFrame())
            self.main_bad_rows += self.report.bad_rows - bad_before
            yield part
        if self.mapping.history_file:
            for raw in self._chunks(self._sibling(self.mapping.history_file)):
                entries, observed = self._history_file(self._named(raw))
                yield _Part(pd.DataFrame(), entries, pd.DataFrame(), observed)

    def finish(self) -> None:
        self._say_unmatched()
        self.report.note(currencies.several_note(dict(self.currency_counts)))
        self._say_unknown_stages()
        self._say_skipped_lines()
        self.report.note(unlabelled_note(self.unlabelled_leads, self.columns.get("converted")))
        self.report.note(status_note(self, self.columns.get("converted_at")))
        self.report.note(
            currencies.converted_note(
                self.converted, self.mapping.exchange_rates, self.mapping.currency
            )
        )
        self.report.notes.extend(
            self.date_fixes.notes(self.columns.get("close_date"), self.columns.get("updated_at"))
        )
        if self.misread_dates or self.main_bad_rows >= self.report.rows_read > 0:
            raise ImportRejected(self.report, self.misread_dates or self._no_row_read())
        if not self.report.ok and self.on_error == "reject":
            raise ImportRejected(self.report)

    def _no_row_read(self) -> str:
        """Why nothing could be imported: every row has a problem (skipping the bad rows would
        leave an empty dataset), with the commonest problem and an example of it."""
        kind, count = self.report.counts.most_common(1)[0]
        example = next(p for p in self.report.examples if p.kind == kind)
        return (
            f"no row of {self.main.name} could be imported: all "
            f"{self.report.rows_read:,} have a problem, most often {kind} ({count:,} rows, e.g. "
            f"[{example.column}] {example.value!r} at line {example.row}); nothing was written"
        )

    def _say_unknown_stages(self) -> None:
        """The stage names the mapping does not know, once, with the lines that would read
        them: each is an open stage of the funnel, or another name for a known stage."""
        if not self.unknown_stages or self.stages is None:
            return
        ranked = self.unknown_stages.most_common()
        shown = ", ".join(f"{json.dumps(name)} ({n:,})" for name, n in ranked[:12])
        more = f" and {len(ranked) - 12} more" if len(ranked) > 12 else ""
        known = ", ".join(self.stages.all_stages)
        self.report.note(
            f"stage names the mapping does not know: {shown}{more}; list each under stages: "
            f"open (in funnel order), or map it to a known stage with stage_names: "
            f"{{{json.dumps(ranked[0][0])}: <one of {known}>}}"
        )
        self.unknown_stages.clear()

    def _scan_export_date(self) -> pd.Timestamp:
        """The newest date in the export: stands for 'when it was exported' if not given (never
        the clock: a row dated today would put a years-old export's deals in the present, and
        a backtest would score the periods up to today as won nothing)."""
        newest = pd.NaT
        # Dates of what happened, not of plans: an expected close date lies ahead of the export.
        seen = [f for f in DATE_FIELDS if f != "expected_close_at"]
        date_cols = [c for f, c in self.columns.items() if f in seen]
        date_cols += list(self.mapping.stage_dates.values())
        chunks = (
            [self.frame]
            if self.frame is not None
            else iter_table(self.main, 200_000, self.mapping.missing_values, self.csv)
        )
        # A date after today is a typo the rows' check reports, not when the export was made.
        tomorrow = pd.Timestamp(store.utcnow()).normalize() + pd.Timedelta(days=1)
        for raw in chunks:
            if self.mapping.combined_columns:
                raw = self._with_first_of(raw.copy())
            present = [c for c in dict.fromkeys(date_cols) if c in raw.columns]
            columns = [raw[col] for col in present] + self._closes_in(raw)
            for column in columns:
                dates = self._dates(column)
                value = dates[dates < tomorrow].max()
                if pd.notna(value) and (pd.isna(newest) or value > newest):
                    newest = value
        if pd.notna(newest):
            return newest
        if self.frame is not None:
            return pd.Timestamp(store.utcnow())
        # No dates at all: the file's modification time, stable across re-imports of one file.
        return pd.Timestamp(self.main.stat().st_mtime, unit="s").floor("s")

    def _closes_in(self, raw: pd.DataFrame) -> list[pd.Series]:
        """A CRM's one "Close Date" (`close_date`) of the won and lost deals among `raw`: what
        happened, so part of what the export saw (an open deal's is a plan, ahead of it)."""
        column = self.columns.get("close_date")
        stage = self.columns.get("stage")
        stages = self.stages
        if "closed_at" in self.columns or stages is None or column not in raw or stage not in raw:
            return []
        names = raw[stage].dropna().unique()
        outcomes = (stages.won, stages.lost)
        closed = [v for v in names if canonical_stage(stages, v) in outcomes]
        return [raw[column][raw[stage].isin(closed)]]

    def _with_derived_label(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The label the mapping derives (`exists_in`), as a column: 1 where the lead's id is
        among the other file's ids, else 0."""
        rule = self.mapping.derived_label
        if rule is None:
            return raw
        if self.derived_ids is None:
            self.derived_ids = self._ids_in(rule)
        ids = raw[self.columns["id"]].astype("str").str.strip()
        raw[rule.column_name] = ids.isin(self.derived_ids).astype(int).where(ids.notna())
        return raw

    def _ids_in(self, rule: ExistsIn) -> set[str]:
        file = self._sibling(rule.file)
        frame = read_table(file, self.mapping.missing_values, self.csv)
        for column in [rule.column, *rule.where]:
            if column not in frame.columns:
                raise InvalidInput(
                    f"{file}: no column {column!r} (converted: exists_in); it has "
                    f"{sorted(frame.columns)[:20]}"
                )
        for column, values in rule.where.items():
            frame = frame[frame[column].astype("str").str.strip().isin(values)]
        found = set(frame[rule.column].dropna().astype("str").str.strip())
        self.report.notes.append(
            f"converted: 1 for leads whose id is among {len(found):,} {rule.column!r} value(s) "
            f"of {file.name}" + (f" where {rule.where}" if rule.where else "") + ", else 0"
        )
        return found

    def _with_first_of(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Each `first_of` field as one column: per row, the first of its columns that is not
        blank (blank where all are), so every later check reads one column, as for any field."""
        for f, rule in self.mapping.combined_columns.items():
            names = self.first_of.get(f, rule.first_of)
            parts = raw[[n for n in names if n in raw.columns]]
            if parts.shape[1] == 0:  # a scan of the main file alone: the columns are joined
                continue
            text = parts.astype("str").apply(lambda c: c.str.strip())
            given = parts.astype(object).where(parts.notna() & (text != ""))
            raw[rule.column_name] = given.bfill(axis=1).iloc[:, 0]
        return raw

    def _with_generated_id(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The id the mapping generates, as a column: a hash of the named columns' text (blank
        when they are all blank, so such a row is reported as missing its id)."""
        generated = self.generated_id
        if generated is None:
            return raw
        parts = raw[generated.hash_of].astype("str").apply(lambda c: c.str.strip())
        parts = parts.where(raw[generated.hash_of].notna(), "")
        keys = parts.iloc[:, 0].str.cat(
            [parts.iloc[:, i] for i in range(1, parts.shape[1])], sep="\x1f"
        )
        ids = keys.map(lambda key: hashlib.sha256(key.encode()).hexdigest()[:16])
        if self.whole_row_ids:  # identical rows are leads alike, numbered in file order
            repeat = ids.groupby(ids).cumcount() + ids.map(self.row_repeats).fillna(0).astype(int)
            self.row_repeats.update(ids.tolist())
            ids = ids.where(repeat == 0, ids + "-" + (repeat + 1).astype(str))
        raw[generated.column_name] = ids.where((parts != "").any(axis=1))
        return raw

    def _fix_values(self, frame: pd.DataFrame, joined: str | None = None) -> pd.DataFrame:
        """The mapping's `value_fixes`; a value fixed to blank ("" or null) is missing. A joined
        file's fixes are counted in its rows, and said so (12 accounts carry many deals)."""
        label = self.columns.get("converted") if self.mapping.kind == "leads" else None
        for col, fixes in self.mapping.value_fixes.items():
            if col in frame.columns:
                if col == label:  # blank in the file first: a value fixed to "" stays not known
                    frame[col] = self._blank_label_read(frame[col], col)
                hits = frame[col].isin(list(fixes))
                if hits.any():  # a blank's fix ("": "0") is said in its own note (`LeadRows`)
                    shown = ", ".join(k for k in fixes if k)
                    where = f" in {joined}" if joined else ""
                    self.report.fixed_values[f"{col}: {shown}{where}"] += int(hits.sum())
                    blanked = frame[col].isin([k for k, v in fixes.items() if not v.strip()])
                    frame[col] = frame[col].replace(fixes).where(~blanked)
        return frame


# --- helpers ----------------------------------------------------------------------------------


def _parse_one(value: object, name: str) -> pd.Timestamp:
    """A date given for `name`, read as every date a user gives is (`as_timestamp`)."""
    try:
        return as_timestamp(value)
    except (ValueError, TypeError, InvalidInput):
        raise InvalidInput(f"{name}: {value!r} is not a date (use YYYY-MM-DD)") from None


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames) if frames else pd.DataFrame()
