"""`forecast score`: every open deal or every lead of a dataset or file, scored in one batch.

The logic lives in `forecast.batch_scoring` (rows, scorer, partitions) and
`forecast.batch_output` (Parquet, the store); this module reads options, loads the data and
prints what was scored.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from forecast.errors import InvalidInput, ModelNotReady, NotFound
from forecast.settings import Settings, get_settings
from training.console import console, handles_errors, print_json, print_notes
from training.data_arg import given_path

#: The rows not scored that a leads file's summary names (each with its column and value).
SHOWN_BAD_ROWS = 10
#: What `--data` names when it is meant as a file (and the file is not there).
FILE_SUFFIXES = (".parquet", ".csv", ".zip")


class ScoreKind(StrEnum):
    deals = "deals"
    leads = "leads"


@handles_errors
def score(
    kind: Annotated[ScoreKind, typer.Option("--kind", help="Score every open deal, or every lead")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The file to write: scores.parquet, or scores.csv (UTF-8, a header row, the "
            "same columns) for a spreadsheet",
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="A dataset in the store (default: the only one of the kind), or an export "
            "file or folder (CSV or Parquet)",
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(help="Built-in mapping name or YAML file, for a path (default: detect)"),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="A dataset in the store to score (as --data NAME, and as other commands take "
            "--dataset); with a file in --data: score it as this dataset's (its champion; its "
            "name in the output and the store) in place of its mapping's, as `forecast import "
            "--dataset` stores it",
        ),
    ] = None,
    reasons: Annotated[
        int,
        typer.Option(
            "--reasons", min=0, help="Reasons for and against per row, as the API gives (0: none)"
        ),
    ] = 3,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="local (a LocalCluster on this machine) or a Dask scheduler address "
            "tcp://HOST:8786 (default: FORECAST_DASK_SCHEDULER, else in process)",
        ),
    ] = None,
    store_: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Also keep the batch in the store's batch_scores table, for other tools to "
            "read (replacing the previous batch of the same dataset and kind)",
        ),
    ] = False,
    partition_rows: Annotated[
        int, typer.Option("--partition-rows", min=1, help="Rows scored per partition (task)")
    ] = 25_000,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """Score every open deal (as of the data's now) or every lead with the champion model.

    Deals are seen as the API and the deals-at-risk page see them: what was known at that
    instant. Without a champion, the fallback the API would use scores, and the output says so.
    Each row: id, probability, score 0–100, grade (none from a fallback with one rate for
    every row, as a lead's base rate: it ranks nothing), model, version, method, the reasons for
    and against (JSON text) and the notes the API gives (a JSON list of text, `[]` for none: a
    deal older than any the model learnt from, a lead's value the model could not use, a lead's
    blank creation date: scored as undated, not as created now; why there is no grade).
    Partitions are scored in this process, or as tasks on a Dask cluster with `--cluster` (the
    same rows).
    """
    from forecast.batch_output import check_out, run_batch, store_batch
    from forecast.batch_scoring import batch_scorer
    from forecast.cluster import dask_client
    from forecast.data import store
    from forecast.modeling.contributions import background_compiles

    settings = get_settings()
    target = check_out(out)
    # This process ends with the batch: a compile started in the background would not pay for
    # itself (seconds of one core), and would be waited for at exit.
    background_compiles(False)
    data, dataset = _stored_or_renamed(data, dataset, settings)
    path = given_path(data, settings)
    if path is not None:
        _check_not_read(target, path)
    unknown = _unknown_dataset(dataset, kind.value, settings) if dataset is not None else None
    started = time.perf_counter()
    with dask_client(cluster) as client:
        rows, extra = _load(kind.value, data, mapping, settings, client)
        if dataset is not None:
            rows = replace(rows, dataset=dataset)
        try:
            scorer = batch_scorer(kind.value, settings, dataset=rows.dataset, **extra)
        except ModelNotReady as exc:
            if unknown is None:
                raise
            raise InvalidInput(f"--dataset: {unknown}, and {exc}") from None
        reading = time.perf_counter() - started
        status = console.status("scoring", spinner="dots") if not json_ else nullcontext()
        with status:
            summary = run_batch(
                rows, scorer, target, top=reasons, partition_rows=partition_rows, client=client
            )
        summary.reading_seconds = reading
    if store_:
        summary.stored = store_batch(
            store.get_engine(settings), rows.dataset, rows.kind, target, as_of=rows.as_of
        )
    if json_:
        print_json({"ok": True, **summary.to_dict()})
        return
    seen = f" open as of {summary.as_of.date()}" if summary.as_of is not None else ""
    console.print(
        f"{summary.rows:,} {summary.kind}{seen} of {summary.dataset} scored by "
        f"{summary.label} {summary.where} in {summary.seconds:.1f} s "
        f"({summary.to_dict()['rows_per_second'] or 0:,.0f} rows/s; reading them and the model "
        f"took {reading:.1f} s before): {summary.out}"
    )
    if summary.stored is not None:
        console.print(
            f"stored {summary.stored:,} rows as the {summary.kind} batch of {summary.dataset} "
            "(the previous batch replaced)"
        )
    print_notes(summary.notes)


def _check_not_read(out: Path, data: Path) -> None:
    """Refuse an `--out` that is the file `--data` reads, or lies in the folder it reads: the
    scores would replace the leads, or be read as part of the export next time."""
    target, source = out.resolve(), data.resolve()
    if target == source:
        raise InvalidInput(f"--out: {out} is the file --data reads; write the scores elsewhere")
    if source.is_dir() and source in target.parents:
        raise InvalidInput(
            f"--out: {out} lies in the export folder --data reads; write the scores elsewhere"
        )


def _stored_or_renamed(
    data: str | None, dataset: str | None, settings: Settings
) -> tuple[str | None, str | None]:
    """`--data` and `--dataset` as (what to read, the name to score a file as): `--dataset NAME`
    alone names a stored dataset, as on the other commands; beside a file it renames the file's
    rows. Two names of stored datasets that differ are refused: which one is meant?"""
    if dataset is None or data == dataset:
        return data, None
    if data is None:
        return dataset, None
    if given_path(data, settings) is None:
        raise InvalidInput(
            f"--data {data!r} and --dataset {dataset!r} name two stored datasets: give one "
            "(--dataset beside --data renames a file's rows, scored as that dataset's)"
        )
    return data, dataset


def _unknown_dataset(dataset: str, kind: str, settings: Settings) -> str | None:
    """Why the store knows no `dataset` (a model registered from a file may still be named for
    it), or None where it does; a dataset of the other kind is refused."""
    from forecast.data import store

    with store.get_engine(settings).connect() as conn:
        try:
            row = store.get_dataset(conn, dataset)
        except NotFound as exc:
            return str(exc)
    _check_kind("--dataset", dataset, row["kind"], "leads" if kind == "leads" else "opportunities")
    return None


def _load(
    kind: str, data: str | None, mapping: str | None, settings: Settings, client: Any = None
) -> tuple[Any, dict[str, Any]]:
    """The rows to score and what a fallback would learn from, from a file or the store. On a
    cluster, the deals of a Parquet export or of the store, and the leads of the store, are read
    by partition there and their rows built and kept there (`batch_scoring.open_deal_parts`,
    `lead_parts`)."""
    from forecast.batch_scoring import lead_rows, open_deal_parts, open_deal_rows
    from forecast.batch_scoring import stage_rates_of_parts as rates_of

    want = "leads" if kind == "leads" else "opportunities"
    if client is not None and kind == "deals":
        source = _partitioned(client, data, kind, want, settings)
        if source is not None:
            return open_deal_parts(client, source), {
                "stage_rates": lambda: rates_of(client, source)
            }
    path = given_path(data, settings)
    if client is not None and kind == "leads" and path is None:
        return _stored_lead_parts(client, data, settings)
    skipped: tuple[str, ...] = ()
    if path is not None:
        history, leads, name, skipped = _from_file(path, mapping, kind, want)
    else:
        _check_not_a_path(data)
        history, leads, name = _from_store(data, kind, want, settings)
    if history is not None:
        deals = open_deal_rows(history, name)
        return replace(deals, notes=(*skipped, *deals.notes)), {"history": history}
    rows = lead_rows(leads, name)
    return replace(rows, notes=(*skipped, *rows.notes)), {"leads": leads}


def _stored_lead_parts(
    client: Any, data: str | None, settings: Settings
) -> tuple[Any, dict[str, Any]]:
    """A stored leads dataset read by slice on the cluster, its rows kept there until scored
    (`batch_scoring.lead_parts`); this process gets the labels a fallback's rate is read from."""
    import pandas as pd

    from forecast.batch_scoring import lead_parts
    from forecast.store_slices import lead_slices

    _check_not_a_path(data)
    engine, name = _stored(data, "leads", "leads", settings)
    rows, labels = lead_parts(client, lead_slices(client, engine, name), name)
    return rows, {"leads": pd.DataFrame({"converted": labels})}


def _from_file(
    path: Path, mapping: str | None, kind: str, want: str
) -> tuple[Any, Any, str, tuple[str, ...]]:
    """The deals or leads of an export file, and what the summary should say of rows left out.

    A leads file is read skipping its bad rows (a date that is no date, a duplicate id, ...):
    one bad lead does not stop a batch; how many were left out, and one example, is said."""
    from forecast.data.importing import read_export
    from forecast.history import DealHistory
    from forecast.parquet_export import is_parquet_export, read_whole

    if is_parquet_export(path):  # a canonical Parquet export of deals, as training reads it
        if kind != "deals":
            raise InvalidInput(f"--kind {kind}: {path} holds deals; use --kind deals")
        history = read_whole(path)
        return history, None, str(history.name), ()
    export = read_export(path, mapping, on_error="skip" if kind == "leads" else "reject")
    if export.kind != want:
        other = "leads" if export.kind == "leads" else "deals"
        raise InvalidInput(f"--kind {kind}: {path} holds {export.kind}; use --kind {other}")
    if export.kind == "leads":
        return None, export.leads, export.dataset, _reading_notes(path, export.report)
    history = DealHistory.from_frames(
        export.opportunities,
        export.history,
        export.stages,
        field_log=export.field_log(),
        options=export.options,
        name=export.dataset,
    )
    return history, None, export.dataset, tuple(export.report.notes)


def _reading_notes(path: Path, report: Any) -> tuple[str, ...]:
    """The summary's notes on how the leads file was read (a number column's placeholder read
    as blank, as `forecast import` says) and on its rows not scored. Not the note that a column
    mostly of numbers is read as text: that is what training on the file would learn, while the
    served model reads each input as it learnt it (a number where it learnt numbers, with a
    row's note where a value is none), as the API does."""
    from forecast.data.number_columns import MOSTLY_NUMBERS_READ_AS_TEXT

    notes = tuple(n for n in report.notes if f": {MOSTLY_NUMBERS_READ_AS_TEXT}," not in n)
    if not report.bad_rows:
        return notes
    problems = ", ".join(f"{kind} {n:,}" for kind, n in report.counts.most_common())
    note = f"{report.bad_rows:,} row(s) of {path.name} not scored ({problems})"
    # Each row once, in file order, the first few (the report keeps 20 of each kind).
    rows: dict[int, Any] = {}
    for p in sorted(report.examples, key=lambda p: p.row):
        rows.setdefault(p.row, p)
    shown = list(rows.values())[:SHOWN_BAD_ROWS]
    if shown:
        said = "; ".join(f"row {p.row}, {p.column} ({p.kind}): {p.value!r}" for p in shown)
        more = " …" if report.bad_rows > len(shown) else ""
        note += f": {said}{more}"
    return (*notes, note)


def _partitioned(
    client: Any, data: str | None, kind: str, want: str, settings: Settings
) -> Any | None:
    """A Parquet export or a stored dataset read by partition on the cluster (None for other
    files, which are read here)."""
    from forecast.parquet_export import is_parquet_export, read_partitioned
    from forecast.store_slices import read_store_partitioned

    path = given_path(data, settings)
    if path is not None:
        return read_partitioned(client, path) if is_parquet_export(path) else None
    _check_not_a_path(data)
    engine, name = _stored(data, kind, want, settings)
    return read_store_partitioned(client, engine, name)


def _check_not_a_path(data: str | None) -> None:
    if data is not None and (Path(data).suffix.lower() in FILE_SUFFIXES or "/" in data):
        raise InvalidInput(f"--data: no file or folder at {data}")


def _from_store(data: str | None, kind: str, want: str, settings: Settings) -> tuple[Any, Any, str]:
    from forecast.data import store
    from forecast.history import load_deal_history

    engine, name = _stored(data, kind, want, settings)
    if want == "leads":
        return None, store.load_leads(engine, name), name
    return load_deal_history(engine, name), None, name


def _stored(data: str | None, kind: str, want: str, settings: Settings) -> tuple[Any, str]:
    """The store's engine and the dataset `data` names (or its only one), of the kind wanted."""
    from forecast.data import store

    engine = store.get_engine(settings)
    try:
        with engine.connect() as conn:
            name = store.resolve_dataset(conn, data, want, how=store.on_command_line("--data"))
            row = store.get_dataset(conn, name)
    except NotFound as exc:
        raise InvalidInput(f"--data: {exc}") from None
    _check_kind(f"--kind {kind}", name, row["kind"], want)
    return engine, name


def _check_kind(option: str, name: str, held: str, want: str) -> None:
    """Refuse a stored dataset of the other kind than the command scores, naming `option`."""
    if held != want:
        other = "leads" if held == "leads" else "deals"
        raise InvalidInput(f"{option}: dataset {name!r} holds {held}; use --kind {other}")
