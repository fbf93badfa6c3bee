"""`forecast kpis` tables: what a manager reads in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from forecast.kpis import KpiReport, compute_kpis
from tests.forecast.test_kpis import frames, pipeline  # noqa: F401 - fixtures
from training.kpi_tables import kpi_tables


def render(report: KpiReport) -> str:
    console = Console(record=True, width=220)
    tables = kpi_tables(report)
    assert tables and all(isinstance(t, Table) for t in tables)
    for table in tables:
        console.print(table)
    return console.export_text()


def test_tables_are_readable(pipeline):  # noqa: F811 - the fixture
    text = render(compute_kpis(pipeline, by="team"))
    assert "50.0%" in text and "4,000" in text and "66.7%" in text
    assert "North" in text and "South" in text and "All" in text
    assert "Proposal" in text and "55.0" in text


def test_without_grouping_there_is_no_funnel_table(pipeline):  # noqa: F811 - the fixture
    assert len(kpi_tables(compute_kpis(pipeline))) == 2
    assert len(kpi_tables(compute_kpis(pipeline, period="month"))) == 3


def test_per_period_each_column_says_which_date_counts_a_deal(pipeline):  # noqa: F811
    # Created in January: A (won 1 March), B (won 20 February), F; in February: C, D; March: E.
    text = " ".join(render(compute_kpis(pipeline, period="month")).split())
    funnel = text[text.index("Funnel:") :]
    # February's row: the two deals created then reached Lead; neither was won, so its Won is
    # 0 (B, won in February, is January's: the funnel's Won counts the same deals as its stages).
    february = [c.strip() for c in funnel.split("│ 2024-02 │")[1].split("│")[:4]]
    january = [c.strip() for c in funnel.split("│ 2024-01 │")[1].split("│")[:4]]
    assert february[0].startswith("2 (") and february[3] == "0"
    assert january[0].startswith("3 (") and january[3] == "2"  # A and B, won in later months
    # Of C (lost at Lead) and D (moved on), one moved on; neither is still in Lead.
    assert february[0] == "2 (50.0%; 0 in)"
    assert (
        "Per month: each stage counts deals created in the month that reached it, and Won "
        "those of them won, whenever they closed (the summary's Won: deals won in the month)."
        in funnel
    )
    assert (
        "Per month: Deals, Open and Open value count deals created in the month; Won, Lost, "
        "Win rate, Avg sale, Won revenue, Cycle and CSAT count deals closed in it" in text
    )


def test_without_a_period_no_table_has_a_dates_footnote(pipeline):  # noqa: F811
    captions = [str(t.caption or "") for t in kpi_tables(compute_kpis(pipeline, by="team"))]
    assert not any("Per " in c or "created in" in c for c in captions)


def test_the_stage_table_counts_deals_still_in_a_stage_apart_from_its_conversion(pipeline):  # noqa: F811
    text = render(compute_kpis(pipeline))
    proposal = next(line for line in text.splitlines() if line.strip("│ ").startswith("Proposal"))
    # Proposal: A, B and D reached it; D is still in it; A and B, the two that left it, won.
    assert [c.strip() for c in proposal.split("│")][1:6] == ["Proposal", "3", "1", "Won", "100.0%"]
    assert (
        "Conversion: of the deals that left the stage, those that moved on (moved on / moved on "
        "or lost); deals still in it (open, got no further) are not counted."
        in " ".join(text.split())
    )
