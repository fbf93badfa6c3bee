"""The KPI report as terminal tables (the `forecast kpis` command's output)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from forecast.formatting import as_of_said, missing, money, pct
from forecast.kpis import KpiReport

#: With `--period`, which date puts a deal in a row's period, as `compute_kpis` counts it: said
#: under the tables, since a row mixes deals created in the period with deals closed in it.
SUMMARY_DATES = (
    "Per {period}: Deals, Open and Open value count deals created in the {period}; Won, Lost, "
    "Win rate, Avg sale, Won revenue, Cycle and CSAT count deals closed in it (an open deal's "
    "CSAT: created); Velocity combines the row's own figures."
)
FUNNEL_DATES = (
    "Per {period}: each stage counts deals created in the {period} that reached it, and Won "
    "those of them won, whenever they closed (the summary's Won: deals won in the {period})."
)
#: What a stage's conversion counts, said under the funnel tables.
CONVERSION = (
    "Conversion: of the deals that left the stage, those that moved on (moved on / moved on or "
    "lost); deals still in it (open, got no further) are not counted. A stage no deal entered "
    "(all skipped past it), or none has left, shows –."
)


def kpi_tables(report: KpiReport) -> list[Table]:
    """The summary, the overall stage view, and the funnel per group when grouped."""
    tables = [_summary_table(report), _stage_table(report)]
    if report.by or report.period:
        tables.append(_funnel_table(report))
    return tables


def _label(row: dict[str, Any]) -> str:
    if row["group"] is None and row["period"] is None:
        return "All"
    return " · ".join(str(x) for x in (row["group"], row["period"]) if x is not None)


def _int(value: Any) -> str:
    return "–" if missing(value) else f"{int(value):,}"


def _days(value: Any) -> str:
    return "–" if missing(value) else f"{float(value):,.1f}"


def _summary_table(report: KpiReport) -> Table:
    # By default every record counts, through the data's last day (`as_of` is its end); a date
    # given is an instant, what was recorded before it: the wording says which, as the
    # forecast's "as of the start of" the day after the data does for the same records.
    default = not report.from_snapshot and report.as_of == report.data_end
    title = f"Pipeline KPIs as of {as_of_said(report.as_of, through=default)}"
    if default:
        title += " (the data's last day)"
    if report.from_snapshot:
        title += " (rebuilt from the stage and field histories)"
    if report.currency:
        title += f", amounts in {report.currency}"
    heading = " / ".join(x for x in (report.by, report.period) if x) or "scope"
    table = Table(title=title)
    for name in (
        heading,
        "Deals",
        "Won",
        "Lost",
        "Open",
        "Win rate",
        "Avg sale",
        "Won revenue",
        "Cycle won med / P90 (d)",
        "Velocity / day",
        "Open value",
        "CSAT",
    ):
        table.add_column(name, justify="left" if name == heading else "right")
    _footnote(table, SUMMARY_DATES, report.period)
    rows = report.ordered_rows()
    for i, r in enumerate(rows):
        csat = f"{r['csat_mean']:.2f} ({_int(r['csat_count'])})" if r["csat_count"] else "–"
        table.add_row(
            _label(r),
            _int(r["deals"]),
            _int(r["won"]),
            _int(r["lost"]),
            _int(r["open"]),
            pct(r["win_rate"]),
            money(r["average_sale_value"]),
            money(r["won_revenue"]),
            f"{_days(r['won_cycle_median_days'])} / {_days(r['won_cycle_p90_days'])}",
            money(r["pipeline_velocity_per_day"]),
            money(r["open_value"]),
            csat,
            end_section=(i == len(rows) - 2),
        )
    return table


def _stage_table(report: KpiReport) -> Table:
    overall = report.overall
    table = Table(title="Stages (all deals)")
    _footnote(table, "", None, CONVERSION)
    for name in (
        "Stage",
        "Reached",
        "Still in stage",
        "Converts to",
        "Conversion",
        "Median days in stage",
        "Completed stays",
        "Open deals",
        "Open value",
        "of which estimated",
    ):
        table.add_column(name, justify="left" if name in ("Stage", "Converts to") else "right")
    for f, t, p in zip(
        overall["funnel"], overall["time_in_stage"], overall["open_pipeline"], strict=True
    ):
        table.add_row(
            f["stage"],
            ("≈" if f.get("estimated") else "") + _int(f["reached"]),
            _int(f["still_in_stage"]),
            f["next_stage"],
            pct(f["conversion"]),
            _days(t["median_days"]),
            _int(t["completed_stays"]),
            _int(p["deals"]),
            money(p["value"]),
            money(p["estimated_value"]),
        )
    table.add_row(
        report.stages.won, _int(overall["won_of_created"]), "", "", "", "", "", "", "", ""
    )
    return table


def _funnel_table(report: KpiReport) -> Table:
    heading = " / ".join(x for x in (report.by, report.period) if x)
    table = Table(title="Funnel: deals reaching each stage (conversion to the next; still in it)")
    _footnote(table, FUNNEL_DATES, report.period, CONVERSION)
    table.add_column(heading)
    for stage in (*report.stages.open_stages, report.stages.won):
        table.add_column(stage, justify="right")
    for r in report.ordered_rows():
        funnel = {
            f["stage"]: f for f in report.stage_rows((r["group"], r["period"])).get("funnel", [])
        }
        steps = [funnel.get(s, {}) for s in report.stages.open_stages]
        cells = [
            f"{'≈' if f.get('estimated') else ''}{_int(f.get('reached'))} "
            f"({pct(f.get('conversion'))}; {_int(f.get('still_in_stage'))} in)"
            for f in steps
        ]
        table.add_row(_label(r), *cells, _int(r["won_of_created"]))
    return table


def _footnote(table: Table, text: str, period: str | None, also: str = "") -> None:
    """Under a table split by period, which date counts a deal in each column's period; and
    `also`, under any."""
    lines = ([text.format(period=period)] if period else []) + ([also] if also else [])
    if lines:
        table.caption = "\n".join(lines)
        table.caption_justify = "left"
