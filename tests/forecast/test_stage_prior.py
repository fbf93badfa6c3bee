"""The stage-prior deal model (a per-deal model at creation, combined in odds with the CRM's stage
probabilities): the combination, the stages it fills in, and serving it like any other model."""

from __future__ import annotations

import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from forecast import scoring
from forecast.errors import InvalidInput
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.families import LinearClassifier
from forecast.modeling.reasons import explain
from forecast.modeling.scorers import select_scorer
from forecast.modeling.stage_prior import (
    OpenPipeline,
    StagePriorClassifier,
    stage_probabilities,
    stage_weight,
    won_after,
)

STAGES = ("Appointment Scheduled", "Qualified To Buy", "Contract Sent")
CRM = {"Appointment Scheduled": 0.2, "Qualified To Buy": 0.4, "Contract Sent": 0.9}


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def creation() -> tuple[pd.DataFrame, np.ndarray]:
    """Deals as known at creation: all in the first stage, aged zero; `size` and `segment`
    tell winners from losers."""
    rng = np.random.default_rng(3)
    n = 800
    size = rng.normal(0, 1, n)
    segment = rng.choice(["direct", "partner"], n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(size + (segment == "partner") - 0.3)))).astype(float)
    X = pd.DataFrame(
        {
            "stage": STAGES[0],
            "segment": segment,
            "size": size,
            "age_days": 0.0,
            "days_in_stage": 0.0,
        }
    )
    return X, y


@pytest.fixture(scope="module")
def model(creation) -> StagePriorClassifier:
    X, y = creation
    fitted = StagePriorClassifier(LinearClassifier(), CRM, STAGES, probabilities_from="preset")
    fitted = fitted.fit(X, y)
    fitted.field_labels_ = {"stage": "Deal Stage", "size": "Size"}
    return fitted


def deal(stage: str, **more: object) -> pd.DataFrame:
    row = {"stage": stage, "segment": "direct", "size": 0.4, "age_days": 30.0, "days_in_stage": 9.0}
    return pd.DataFrame([{**row, **more}])


def test_the_crm_probabilities_are_kept_in_pipeline_order_and_away_from_certainty():
    given = {"Contract Sent": 1.0, "Appointment Scheduled": 0.0, "Qualified To Buy": 0.4}
    assert stage_probabilities(STAGES, given) == {
        "Appointment Scheduled": 0.01,
        "Qualified To Buy": 0.4,
        "Contract Sent": 0.99,
    }


def test_a_stage_without_a_probability_takes_one_between_its_neighbours():
    middle = stage_probabilities(STAGES, {"Appointment Scheduled": 0.2, "Contract Sent": 0.8})
    assert middle is not None and middle["Qualified To Buy"] == pytest.approx(0.5)
    assert stage_probabilities(STAGES, {"Closed Won": 1.0}) is None


def test_a_stage_outside_the_known_ones_is_not_given_its_neighbours_probability():
    # A drafted mapping lists a stage without a probability ("Stuck") last: it is not known to
    # be the funnel's last stage, so it must not take the last known stage's 90%.
    ends = stage_probabilities(STAGES, {"Qualified To Buy": 0.4})
    assert ends == {"Qualified To Buy": pytest.approx(0.4)}


def test_a_stage_without_a_probability_scores_as_a_deal_at_creation(creation):
    X, y = creation
    stages = (*STAGES, "Stuck")
    model = StagePriorClassifier(LinearClassifier(), CRM, stages).fit(X, y)
    at_creation = model.predict_proba(deal(STAGES[0]))[0, 1]
    assert model.predict_proba(deal("Stuck"))[0, 1] == pytest.approx(at_creation)
    [reasons] = explain(model, deal("Stuck"))
    assert not any("Stuck" in r.sentence for r in reasons["for"] + reasons["against"])


def test_won_after_counts_what_closes_after_an_age_among_what_is_still_open():
    # Two deals lost on day 1, two won on day 10: half are won at creation; a deal still open
    # on day 5 is one of the slow ones, all won; past every close, the closed deals' share.
    durations = np.array([1.0, 1.0, 10.0, 10.0])
    won = np.array([False, False, True, True])
    chance = won_after(durations, won, ~won, np.array([0.0, 5.0, 20.0]))
    assert chance == pytest.approx([0.5, 1.0, 0.5])
    # A fifth deal still open on day 3 (censored) outlived the day-1 losses: 3 of 5 deals
    # did, and every one seen to close after that was won, so 60% at creation (not 2 of 4).
    more = won_after(np.append(durations, 3.0), np.append(won, False), np.append(~won, False),
                     np.array([0.0, 5.0]))  # fmt: skip
    assert more == pytest.approx([0.6, 1.0])


def test_the_stage_weight_makes_the_open_deals_average_the_share_won():
    z = np.array([logit(0.3)] * 4)
    offsets = np.array([0.0, 1.0, 2.0, 3.0])
    assert stage_weight(z, offsets, 0.3) == 0.0  # open deals win as often as new ones
    assert stage_weight(z, offsets, 0.99) == 1.0  # the CRM's odds in full, never more
    w = stage_weight(z, offsets, 0.5)
    assert np.mean([sigmoid(logit(0.3) + w * o) for o in offsets]) == pytest.approx(0.5)


def _pipeline(model: StagePriorClassifier, share: float) -> OpenPipeline:
    rows = pd.concat([deal(s) for s in STAGES for _ in range(10)], ignore_index=True)
    return OpenPipeline(rows, rows["stage"].to_numpy(), share)


def test_open_deals_that_win_no_more_than_new_ones_get_no_stage_lift(creation, model):
    X, y = creation
    flat = StagePriorClassifier(LinearClassifier(), CRM, STAGES)
    level = float(model.base_.predict_proba(deal(STAGES[0]))[0, 1])
    flat.fit(X, y, pipeline=_pipeline(model, level))
    p = [flat.predict_proba(deal(s))[0, 1] for s in STAGES]
    assert p == pytest.approx([level] * 3, abs=1e-6)
    assert flat.stage_weight_ == 0.0


def test_the_stage_lift_is_what_the_open_deals_share_won_supports(creation, model):
    X, y = creation
    level = float(model.base_.predict_proba(deal(STAGES[0]))[0, 1])
    share = level + 0.15
    some = StagePriorClassifier(LinearClassifier(), CRM, STAGES, probabilities_from="preset")
    some.fit(X, y, pipeline=_pipeline(model, share))
    p = np.array([some.predict_proba(deal(s))[0, 1] for s in STAGES])
    full = np.array([model.predict_proba(deal(s))[0, 1] for s in STAGES])
    assert p.mean() == pytest.approx(share, abs=1e-6)
    assert p[0] == pytest.approx(level) and p[0] < p[1] < p[2]
    assert np.all(p <= full + 1e-12)  # never above the CRM's odds over the first stage
    [reasons] = explain(some, deal(STAGES[2]))
    said = " ".join(r.sentence for r in reasons["for"])
    assert f"its odds counted at {some.stage_weight_:.0%}" in said


def test_the_stage_moves_the_per_deal_odds_by_the_crms_odds_over_the_first_stage(model):
    p_deal = float(model.base_.predict_proba(deal(STAGES[0]))[0, 1])
    for stage, p_stage in CRM.items():
        expected = sigmoid(logit(p_deal) + logit(p_stage) - logit(CRM[STAGES[0]]))
        assert model.predict_proba(deal(stage))[0, 1] == pytest.approx(expected, rel=1e-9)


def test_an_open_deal_scores_higher_at_each_later_stage(model):
    p = [model.predict_proba(deal(s))[0, 1] for s in STAGES]
    assert p[0] < p[1] < p[2]


def test_nothing_after_creation_reaches_the_per_deal_model(model):
    young = deal(STAGES[1], age_days=1.0, days_in_stage=1.0)
    old = deal(STAGES[1], age_days=300.0, days_in_stage=200.0)
    assert model.predict_proba(young)[0, 1] == model.predict_proba(old)[0, 1]
    assert "age_days" not in model.base_.encoder_.columns
    assert "stage" not in model.base_.encoder_.columns


def test_the_deals_own_inputs_still_rank(model):
    small, big = deal(STAGES[1], size=-1.0), deal(STAGES[1], size=1.5)
    assert model.predict_proba(big)[0, 1] > model.predict_proba(small)[0, 1]


def test_terms_and_bias_add_up_to_the_score(model):
    X = pd.concat([deal(s) for s in STAGES], ignore_index=True)
    raw = model.contributions(model.encode(X)).sum(axis=1) + model.bias_
    assert np.allclose(1 / (1 + np.exp(-raw)), model.predict_proba(X)[:, 1])


def test_served_one_row_at_a_time_with_the_stage_said_as_the_crm_probability(model):
    served = scoring.Served("deals", select_scorer(model), "1", "test")
    row = deal(STAGES[2]).iloc[0].to_dict()
    [scored] = scoring.score(served, [row])
    assert scored.probability == pytest.approx(model.predict_proba(deal(STAGES[2]))[0, 1])
    assert scored.probability == pytest.approx(model.score_row(row))
    said = [r["sentence"] for r in scored.reasons_for]
    assert said[0].startswith("Deal Stage = Contract Sent: the CRM's preset stage probability 90%")
    # In the first stage the stage adds nothing, so it is not a reason.
    [first] = scoring.score(served, [deal(STAGES[0]).iloc[0].to_dict()])
    assert all(r["field"] != "Deal Stage" for r in first.reasons_for + first.reasons_against)


def test_the_training_report_explains_it_the_same_way(model):
    [reasons] = explain(model, deal(STAGES[1]))
    assert any("the CRM's preset stage probability 40%" in r.sentence for r in reasons["for"])


def test_it_saves_and_loads_with_joblib_and_scores_the_same(model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    X = pd.concat([deal(s) for s in STAGES], ignore_index=True)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.family == "logistic_regression with stage prior"


def test_a_lightgbm_per_deal_model_serves_the_same_way(creation):
    X, y = creation
    model = StagePriorClassifier(BoostedClassifier(n_jobs=1), CRM, STAGES).fit(X, y)
    served = scoring.Served("deals", select_scorer(model), "1", "test")
    rows = [deal(s).iloc[0].to_dict() for s in STAGES]
    p = [s.probability for s in scoring.score(served, rows)]
    assert p == pytest.approx(list(model.predict_proba(pd.DataFrame(rows))[:, 1]))
    assert p[0] < p[1] < p[2]


def test_an_isotonic_per_deal_model_cannot_be_combined_in_odds(creation):
    X, y = creation
    base = BoostedClassifier(calibration="isotonic", n_jobs=1)
    with pytest.raises(InvalidInput, match="sigmoid"):
        StagePriorClassifier(base, CRM, STAGES).fit(X, y)


def test_no_stage_probability_for_any_open_stage_is_an_error(creation):
    X, y = creation
    with pytest.raises(InvalidInput, match="stage_probabilities"):
        StagePriorClassifier(LinearClassifier(), {"Closed Won": 1.0}, STAGES).fit(X, y)


def test_scoring_before_fit_says_so():
    with pytest.raises(NotFittedError):
        StagePriorClassifier(LinearClassifier(), CRM, STAGES).predict_proba(deal(STAGES[0]))
