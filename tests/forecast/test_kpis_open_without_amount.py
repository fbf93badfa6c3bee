"""Open value adds the open deals' amounts: where some open deals have none (a Salesforce
report's open opportunities with a blank Amount), the KPIs say how many, as the revenue
forecast does. The table showed an open value of 0 beside 2,089 open deals with no word that
none of them had an amount, which a manager reads as an empty pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory
from forecast.kpis import compute_kpis


@pytest.fixture(scope="module")
def gen():
    return generate_pipeline(300, seed=5, start="2023-01-01", end="2023-12-31")


def _history(gen, blank_open: bool) -> DealHistory:
    opps = gen.opportunities.copy()
    if blank_open:
        opps.loc[opps["status"] == "open", "amount"] = np.nan
    return DealHistory.from_frames(opps, gen.history, gen.stages)


def test_open_deals_without_an_amount_are_said(gen):
    report = compute_kpis(_history(gen, blank_open=True))
    overall = report.to_dict()["overall"]
    assert overall["open"] > 0 and overall["open_value"] == 0.0
    n = overall["open"]
    notes = [note for note in report.notes if "open deals" in note]
    assert notes == [
        f"all {n:,} open deals have no amount: they count in the open deals, not in open value"
    ]


def test_no_open_amount_note_where_every_open_deal_has_one(gen):
    report = compute_kpis(_history(gen, blank_open=False))
    assert not [n for n in report.notes if "no amount" in n]
