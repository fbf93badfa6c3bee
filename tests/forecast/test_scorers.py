"""The fallback scorers say what they score with: a stage's own win rate, or the overall win
rate when there is none for that stage (a stage never seen, or a flat stage history)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast import scoring
from forecast.modeling.baselines import StageWinRate
from forecast.modeling.scorers import select_scorer


def test_a_flat_stage_history_falls_back_to_the_overall_win_rate_and_says_so():
    # An export of current stages only: every ended deal's snapshots sit in its first stage.
    rows = pd.DataFrame({"stage": ["Prospecting"] * 99 + ["Negotiation"]})
    won = [1] * 62 + [0] * 37 + [1]
    rates = StageWinRate().fit(rows, won)
    scorer = select_scorer(None, stage_rates=rates)
    assert "overall historical win rate" in scorer.label
    assert "per-stage" in scorer.label and "no per-stage" in scorer.label
    served = scoring.Served(scoring.DEAL, scorer, None, "fallback")
    scores = scoring.score(served, [{"stage": "Prospecting"}, {"stage": "Negotiation"}])
    assert [s.probability for s in scores] == [pytest.approx(0.63)] * 2
    for s in scores:
        sentence = s.reasons_for[0]["sentence"]
        assert "overall win rate 63%" in sentence or "overall win rate (" in sentence
        assert "historical win rate" not in sentence


def test_a_stage_without_a_rate_is_said_to_get_the_overall_win_rate():
    scorer = select_scorer(None, stage_rates={"Prospecting": 0.6, "Closing": 0.2})
    assert "per-stage historical win rate" in scorer.label
    assert scorer.rate_sentence("Closing", 0.2) == (
        "Stage = Closing: historical win rate 20% (no champion model yet)"
    )
    assert scorer.rate_sentence("Nowhere", 0.4) == (
        "Stage = Nowhere: overall win rate 40%, as there is no per-stage rate for this stage "
        "(no champion model yet)"
    )
