"""An input the model's trees never split on changes no score: scoring does not encode it (a
tenth to a third of a batch's encoding on a real lead file) and no note says a value of it "was
not learnt", which would read as if it mattered. An input the trees read is encoded and said as
before; scores are the same either way."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import scoring
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from forecast.score_plans import IGNORED, plan_of, read_plan


def served_model() -> tuple[scoring.Served, BoostedClassifier]:
    rng = np.random.default_rng(4)
    n = 2000
    source = rng.choice(["Ads", "Referral", "Search"], n)
    X = pd.DataFrame(
        {
            "Source": pd.array(source, dtype="str"),
            "Visits": rng.poisson(3, n).astype(float),
            "Region": pd.array(["EMEA"] * n, dtype="str"),  # one value: no tree can split on it
        }
    )
    y = (rng.random(n) < np.where(source == "Referral", 0.5, 0.1)).astype(float)
    model = BoostedClassifier(random_state=1).fit(X, y)
    return scoring.Served(scoring.LEAD, select_scorer(model), "test", "registry"), model


def test_an_input_no_tree_reads_is_ignored_in_the_plan_and_the_others_kept():
    _, model = served_model()
    plan = read_plan(model, plan_of(model.encoder_))
    ignored = [col for col, levels in plan if levels is IGNORED]
    assert ignored == ["Region"]


def test_a_value_of_an_input_no_tree_reads_is_not_said_and_changes_no_score():
    served, _ = served_model()
    rows = [{"Source": "Podcast", "Visits": 2, "Region": "APAC"} for _ in range(20)]
    rows += [{"Source": "Referral", "Visits": 2, "Region": "EMEA"}]
    for batch in (rows, rows[:1], rows[-1:]):  # a batch read by column, and single rows
        scores = scoring.score(served, batch)
        said = " ".join(n for s in scores for n in s.notes)
        assert "Region" not in said
        if batch[0]["Source"] == "Podcast":
            assert "'Podcast' was not learnt" in said  # an input the trees read: said
    apac = scoring.score(served, rows[-1:])[0].probability
    assert apac == scoring.score(served, [{**rows[-1], "Region": "APAC"}])[0].probability
