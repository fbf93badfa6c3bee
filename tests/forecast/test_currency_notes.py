"""Figures that add amounts say so when the deals are in several currencies: the KPIs (sale
value, pipeline) and the backtest (actuals, forecasts) add them unconverted, as the forecast
does, so a reader must not take a sum of dollars and euros for either."""

from __future__ import annotations

import pytest

from forecast.data.generator import generate_pipeline
from forecast.forecasting.backtest import backtest
from forecast.history import DealHistory
from forecast.kpis import compute_kpis
from forecast.settings import Settings


@pytest.fixture(scope="module")
def gen():
    return generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31")


def _history(gen, currencies: list[str]) -> DealHistory:
    opps = gen.opportunities.copy()
    opps["currency"] = [currencies[i % len(currencies)] for i in range(len(opps))]
    return DealHistory.from_frames(opps, gen.history, gen.stages)


def test_kpis_of_deals_in_several_currencies_say_the_amounts_are_added_unconverted(gen):
    report = compute_kpis(_history(gen, ["USD", "EUR"]))
    [note] = report.notes
    assert "2 currencies (USD 750, EUR 750 deals)" in note and "unconverted" in note
    assert report.to_dict()["notes"] == [note]
    assert report.to_dict()["currency"] is None
    one = compute_kpis(_history(gen, ["USD"]))
    assert one.notes == [] and one.to_dict()["currency"] == "USD"


def test_the_kpi_table_names_the_one_currency(gen):
    from training.kpi_tables import kpi_tables

    titles = [t.title for t in kpi_tables(compute_kpis(_history(gen, ["EUR"])))]
    assert titles[0].endswith(", amounts in EUR")
    unsaid = [t.title for t in kpi_tables(compute_kpis(_history(gen, ["USD", "EUR"])))]
    assert "amounts in" not in unsaid[0]


def test_a_backtest_of_deals_in_several_currencies_says_so(gen):
    settings = Settings(timing_min_closed_deals=10)
    mixed = backtest(_history(gen, ["USD", "EUR"]), freq="quarter", settings=settings)
    assert any("2 currencies" in n and "unconverted" in n for n in mixed.notes)
    one = backtest(_history(gen, ["USD"]), freq="quarter", settings=settings)
    assert not any("currencies" in n for n in one.notes)
