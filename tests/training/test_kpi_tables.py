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
