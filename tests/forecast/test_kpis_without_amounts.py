"""Won revenue and open value are sums of amounts: a dataset without amounts does not know them
(null in the API, "–" in the CLI table), while one with amounts that won nothing won 0. Where
some won deals lack an amount, a note says how many (and where), since won revenue and the
average sale value leave them out while the win rate counts them."""

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


# --- won deals without an amount, among others with one ----------------------------------------


def _blank_won_amount(ids: set[str]) -> DealHistory:
    """The hand-made deals of test_kpis with the amount of the won deals in `ids` left blank
    (each keeps its list price: the KPIs do not add list prices)."""
    from tests.forecast.test_kpis import DEALS, build, history_of

    opps, log = build(DEALS)
    opps.loc[opps["id"].isin(ids), "amount"] = np.nan
    return history_of(opps, log)


def test_won_deals_without_an_amount_are_said_and_left_out_of_revenue_and_average_only():
    # A (1,000) and B (3,000) were won; C and F lost. B's amount is blank.
    report = compute_kpis(_blank_won_amount({"B"}))
    overall = report.overall
    assert (overall["won"], overall["win_rate"], overall["deals"]) == (2, 0.5, 6)
    assert overall["won_revenue"] == 1000.0 and overall["average_sale_value"] == 1000.0
    assert overall["won_without_amount"] == 1
    note = (
        "1 of the 2 won deals has no amount: it counts in the win rate and the deal counts, "
        "not in won revenue or the average sale value"
    )
    assert report.notes == [note]
    assert report.to_dict()["notes"] == [note]


def test_no_note_when_every_won_deal_has_an_amount():
    report = compute_kpis(_blank_won_amount(set()))
    assert report.notes == [] and report.overall["won_without_amount"] == 0


def test_the_note_counts_the_won_deals_known_at_the_reports_date():
    history = _blank_won_amount({"B"})
    # B was won on 20 February, A on 1 March.
    # B, still open then, is said among the open deals, not the won ones
    early = compute_kpis(history, as_of="2024-02-15").notes
    assert [n for n in early if "won deal" in n] == []
    [note] = compute_kpis(history, as_of="2024-02-25").notes
    assert note.startswith("the won deal has no amount: it counts in the win rate")
    [both] = compute_kpis(_blank_won_amount({"A", "B"})).notes
    assert both.startswith("all 2 won deals have no amount: they count in the win rate")


def test_a_split_report_names_the_groups_and_periods_whose_won_deals_lack_an_amount():
    report = compute_kpis(_blank_won_amount({"B"}), by="team", period="month")
    [note] = report.notes
    assert note.startswith("1 of the 2 won deals has no amount (North · 2024-02: 1 of 1): ")
    assert report.row("North", "2024-02")["won_without_amount"] == 1
    assert report.row("North", "2024-03")["won_without_amount"] == 0  # A, with its amount
    by_team = compute_kpis(_blank_won_amount({"A", "B"}), by="team")
    assert "(North: 2 of 2)" in by_team.notes[0]
