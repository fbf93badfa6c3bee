"""Readable tables for the import and snapshot commands."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from forecast.data.validation import ImportReport


def import_json(report: ImportReport, *, ok: bool, error: str | None = None) -> dict:
    """The import's `--json` document: the report, whether the command succeeded, and each
    problem found (the first few per kind) as `{"field", "problem", "file", "row", "value"}`;
    with `--on-error skip` an import can succeed and still list the rows it left out."""
    doc: dict = {"ok": ok}
    if error is not None:
        doc["error"] = error
    doc["errors"] = [
        {"field": p.column, "problem": p.kind, "file": p.file, "row": p.row, "value": p.value}
        for p in report.examples
    ]
    return {**doc, **report.to_dict()}


def print_import_report(report: ImportReport, console: Console) -> None:
    summary = Table(title=f"Import into dataset '{report.dataset}'", show_header=False)
    summary.add_row("files", "\n".join(report.files))
    # The name later commands take (`--dataset`), and how to store under another.
    summary.add_row(
        "dataset", f"{report.dataset} (another name: --dataset NAME, or dataset: in the mapping)"
    )
    summary.add_row("rows read", f"{report.rows_read:,}")
    deals = report.kind != "leads"  # a lead file has no stages, amounts or close dates
    if report.written:
        summary.add_row("rows inserted or changed", f"{report.rows_written:,}")
        if deals:
            summary.add_row("new stage-history entries", f"{report.history_rows_written:,}")
            summary.add_row("new field-history observations", f"{report.field_rows_written:,}")
            summary.add_row("deals that moved stage", f"{report.stage_changes:,}")
    else:  # nothing was stored: what the checked rows would have changed is no change made
        summary.add_row("stored", "nothing: the store is as it was before this import")
    if deals:
        summary.add_row("amounts estimated from list price", f"{report.estimated_amounts:,}")
        summary.add_row(
            "creation dates missing (close date, or the export date, used)",
            f"{report.estimated_created:,}",
        )
    # The file's names and values as written: "[n/a, —]" is no console markup.
    for fix, count in report.fixed_values.items():
        summary.add_row("value fixed", escape(f"{fix} ({count:,} rows)"))
    for note in report.notes:
        summary.add_row("note", escape(note))
    summary.add_row("rows with problems", f"{report.bad_rows:,}")
    summary.add_row("written", "yes" if report.written else "no")
    console.print(summary)
    if report.counts:
        problems = Table(title="Problems (count per kind)")
        problems.add_column("problem")
        problems.add_column("rows", justify="right")
        for kind, count in report.counts.most_common():
            problems.add_row(kind, f"{count:,}")
        console.print(problems)
        examples = Table(title="First examples")
        for col in ("file", "row", "column", "problem", "value"):
            examples.add_column(col)
        for p in report.examples[:30]:
            cells = (p.file.rsplit("/", 1)[-1], str(p.row), p.column, p.kind, p.value)
            examples.add_row(*("" if c is None else escape(str(c)) for c in cells))
        console.print(examples)


def snapshot_summary(snap: pd.DataFrame, stages_order: list[str]) -> list[dict]:
    """Deals and value per stage in a snapshot, in funnel order."""
    rows = []
    for stage in stages_order:
        part = snap[snap["stage"] == stage]
        rows.append(
            {
                "stage": stage,
                "deals": int(len(part)),
                "value": float(part["amount"].sum()) if len(part) else 0.0,
                "median_days_in_stage": (
                    float(part["days_in_stage"].median()) if len(part) else None
                ),
            }
        )
    return rows


def print_snapshot(rows: list[dict], as_of: str, console: Console) -> None:
    table = Table(title=f"Pipeline as of {as_of}")
    for col, justify in (
        ("stage", "left"),
        ("deals", "right"),
        ("value", "right"),
        ("median days in stage", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        days = r["median_days_in_stage"]
        table.add_row(
            r["stage"],
            f"{r['deals']:,}",
            f"{r['value']:,.0f}",
            "" if days is None else f"{days:,.1f}",
        )
    console.print(table)
