"""`forecast score`: every open deal or every lead of a dataset or file, scored in one batch.

The logic lives in `forecast.batch_scoring` (rows, scorer, partitions) and
`forecast.batch_output` (Parquet, the store); this module reads options, loads the data and
prints what was scored.
"""

from __future__ import annotations

from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from forecast.errors import InvalidInput, NotFound
from forecast.settings import Settings, get_settings
from training.console import console, err_console, handles_errors, print_json

#: What `--data` names when it is meant as a file (and the file is not there).
FILE_SUFFIXES = (".parquet", ".csv", ".zip")


class ScoreKind(StrEnum):
    deals = "deals"
    leads = "leads"


@handles_errors
def score(
    kind: Annotated[ScoreKind, typer.Option("--kind", help="Score every open deal, or every lead")],
    out: Annotated[Path, typer.Option("--out", help="The Parquet file to write (scores.parquet)")],
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
            help="Also keep the batch in the store for the dashboard (replacing the previous "
            "batch of the same dataset and kind)",
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
    Each row: id, probability, score 0–100, grade, model, version, method and the reasons for
    and against (JSON text). Partitions are scored in this process, or as tasks on a Dask
    cluster with `--cluster` (the same rows).
    """
    from forecast.batch_output import check_out, run_batch, store_batch
    from forecast.batch_scoring import batch_scorer
    from forecast.cluster import dask_client
    from forecast.data import store

    settings = get_settings()
    target = check_out(out)
    rows, extra = _load(kind.value, data, mapping, settings)
    scorer = batch_scorer(kind.value, settings, dataset=rows.dataset, **extra)
    status = console.status("scoring", spinner="dots") if not json_ else nullcontext()
    with status, dask_client(cluster) as client:
        summary = run_batch(
            rows, scorer, target, top=reasons, partition_rows=partition_rows, client=client
        )
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
        f"({summary.to_dict()['rows_per_second'] or 0:,.0f} rows/s): {summary.out}"
    )
    if summary.stored is not None:
        console.print(
            f"stored {summary.stored:,} rows as the {summary.kind} batch of {summary.dataset} "
            "(the previous batch replaced)"
        )
    for note in summary.notes:
        err_console.print(f"[dim]note: {note}[/]")


def _load(
    kind: str, data: str | None, mapping: str | None, settings: Settings
) -> tuple[Any, dict[str, Any]]:
    """The rows to score and what a fallback would learn from, from a file or the store."""
    from forecast.batch_scoring import lead_rows, open_deal_rows

    want = "leads" if kind == "leads" else "opportunities"
    if data is not None and Path(data).exists():
        history, leads, name = _from_file(Path(data), mapping, kind, want)
    else:
        if data is not None and (Path(data).suffix.lower() in FILE_SUFFIXES or "/" in data):
            raise InvalidInput(f"--data: no file or folder at {data}")
        history, leads, name = _from_store(data, kind, want, settings)
    if history is not None:
        return open_deal_rows(history, name), {"history": history}
    return lead_rows(leads, name), {"leads": leads}


def _from_file(path: Path, mapping: str | None, kind: str, want: str) -> tuple[Any, Any, str]:
    from forecast.data.importing import read_export
    from forecast.history import DealHistory

    export = read_export(path, mapping)
    if export.kind != want:
        other = "leads" if export.kind == "leads" else "deals"
        raise InvalidInput(f"--kind {kind}: {path} holds {export.kind}; use --kind {other}")
    if export.kind == "leads":
        return None, export.leads, export.dataset
    history = DealHistory.from_frames(
        export.opportunities,
        export.history,
        export.stages,
        options=export.options,
        name=export.dataset,
    )
    return history, None, export.dataset


def _from_store(data: str | None, kind: str, want: str, settings: Settings) -> tuple[Any, Any, str]:
    from forecast.data import store
    from forecast.history import load_deal_history

    engine = store.get_engine(settings)
    try:
        with engine.connect() as conn:
            name = store.resolve_dataset(conn, data, want)
            row = store.get_dataset(conn, name)
    except NotFound as exc:
        raise InvalidInput(f"--data: {exc}") from None
    if row["kind"] != want:
        other = "leads" if row["kind"] == "leads" else "deals"
        raise InvalidInput(
            f"--kind {kind}: dataset {name!r} holds {row['kind']}; use --kind {other}"
        )
    if want == "leads":
        return None, store.load_leads(engine, name), name
    return load_deal_history(engine, name), None, name
