"""The deal model's inputs are what its training data had: an input blank in every training deal
is left out (and training says so), so scoring neither expects nor notes it; an input no
training deal left blank is remembered with the model, and a deal scored without it is told its
part of the score was left neutral."""

from __future__ import annotations

import pytest

from forecast import scoring
from forecast.history import DealHistory
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from tests.forecast.synthetic import deals


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TrainingResult:
    opps, log, stages, _ = deals(900, seed=4)
    opps["sector"] = None  # no deal of this CRM's export has a sector
    history = DealHistory.from_frames(opps, log, stages, name="crm")
    settings = Settings(state_dir=tmp_path_factory.mktemp("state"), seed=7)
    return train_deals(history, settings=settings, dataset="crm")


def _inputs(model) -> list[str]:
    fitted = getattr(model, "global_", model)
    return list(fitted.encoder_.columns)


def test_an_input_blank_in_every_training_deal_is_left_out_and_said(trained):
    assert "sector" not in trained.features
    assert "sector" not in _inputs(trained.model)
    assert "product" in _inputs(trained.model)
    [said] = [w for w in trained.warnings if w.startswith("not learnt from, blank in every")]
    assert "Sector" in said and "Product" not in said
    assert trained.summary()["columns"]["blank_everywhere"] == ["sector"]


def test_a_deal_scored_without_an_input_every_training_deal_had_is_told(trained):
    served = scoring.Served(scoring.DEAL, select_scorer(trained.model), "1", "registry")
    row = {"stage": "Prospecting", "stage_index": 0, "age_days": 3.0, "days_in_stage": 3.0}
    row |= {"amount": 2500.0, "list_price": 2500.0, "region": "East", "team": "team0"}
    row |= {"rep_win_rate": 0.5, "rep_closed_deals": 20.0}
    row |= {"account_win_rate": 0.5, "account_closed_deals": 5.0}
    [scored] = scoring.score(served, [row], top=10)
    assert any(n.startswith("Product was not given") for n in scored.notes), scored.notes
    assert not any("Sector" in n for n in scored.notes)
    fields = [r["field"] for r in scored.reasons_for + scored.reasons_against]
    assert "Product" not in fields
