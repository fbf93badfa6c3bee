"""An export whose deals carry no creation date (only the stage, amount and close date) is
still scored without a champion: by the share of its ended deals that were won, labelled so,
the API's and a batch's alike, where it was "no history to fall back on"."""

from __future__ import annotations

import pandas as pd

from forecast import scoring
from forecast.data import store
from forecast.data.importing import import_export
from forecast.model_set import deal_context, deal_fallback
from forecast.modeling.baselines import stage_win_rates

MAPPING = """
kind: opportunities
dataset: undated
columns:
  id: Opp
  stage: Stage
  amount: Value
  close_date: Close Date
stages:
  open: [Prospect, Proposal]
  won: Won
  lost: Lost
currency: USD
"""


def test_deals_with_no_creation_date_are_scored_by_the_overall_win_rate(tmp_path):
    rows = [("W1", "Won", "2025-01-10"), ("W2", "Won", "2025-02-10"), ("L1", "Lost", "2025-01-20")]
    rows += [("L2", "Lost", "2025-03-01"), ("O1", "Prospect", ""), ("O2", "Proposal", "")]
    frame = pd.DataFrame(rows, columns=["Opp", "Stage", "Close Date"]).assign(Value=100.0)
    frame.to_csv(tmp_path / "deals.csv", index=False)
    (tmp_path / "deals.yaml").write_text(MAPPING)
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate(engine)
    import_export(engine, tmp_path / "deals.csv", tmp_path / "deals.yaml")

    history = deal_context(engine, "undated").history
    scorer = deal_fallback(history, stage_win_rates(history))
    served = scoring.Served(scoring.DEAL, scorer, None, "fallback", dataset="undated")
    scores = scoring.score(served, [{"stage": "Prospect"}, {"stage": "Proposal"}])

    assert [s.probability for s in scores] == [0.5, 0.5]  # 2 won of 4 ended
    assert "creation and close dates" in scorer.label
    said = str(scores[0].reasons_for + scores[0].reasons_against)
    assert "overall win rate" in said, said
