"""Won revenue and open value are sums of amounts: a dataset without amounts does not know them
(null in the API, "–" in the CLI table), while one with amounts that won nothing won 0."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory
from forecast.kpis import compute_kpis


@pytest.fixture(scope="module")
def gen():
    return generate_pipeline(300, seed=5, start="2023-01-01", end="2023-12-31")


def _history(gen, amounts: bool, won: bool = True) -> DealHistory:
    opps = gen.opportunities.copy()
    if not amounts:
        opps["amount"] = np.nan
    if not won:  # every won deal read as lost
        opps.loc[opps["status"] == "won", "status"] = "lost"
    return DealHistory.from_frames(opps, gen.history, gen.stages)


def test_won_revenue_of_a_dataset_without_amounts_is_unknown_not_zero(gen):
    report = compute_kpis(_history(gen, amounts=False))
    overall = report.to_dict()["overall"]
    assert overall["won"] > 0
    assert overall["won_revenue"] is None and overall["open_value"] is None


def test_won_revenue_is_zero_where_amounts_exist_and_nothing_was_won(gen):
    overall = compute_kpis(_history(gen, amounts=True, won=False)).to_dict()["overall"]
    assert overall["won"] == 0 and overall["won_revenue"] == 0.0
    assert overall["open_value"] > 0


def test_the_cli_table_shows_a_dash_for_unknown_won_revenue(gen):
    from training.kpi_tables import kpi_tables

    tables = kpi_tables(compute_kpis(_history(gen, amounts=False)))
    cells = {c.header: list(c.cells) for t in tables for c in t.columns}
    assert cells["Won revenue"] and set(cells["Won revenue"]) == {"–"}
