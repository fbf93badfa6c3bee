"""The scoring service (no HTTP): encode → predict → explain, one row being a batch of one.

A small real model is fitted on hand-made leads; expected probabilities come from the fitted
estimator's own `predict_proba` and expected raw scores from LightGBM, never from the service.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier
from forecast.modeling.scorers import crm_stage_scorer, select_scorer, undated_scorer

FIELDS = ["Lead Source", "TotalVisits", "Country", "Do Not Email"]


def hand_made_leads(
    n: int,
    seed: int,
    team_effect: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Leads where a referral converts far more often, a chat lead less, and visits help; the
    country and the e-mail opt-out are noise. With `team_effect`, a referral helps only team
    north and hurts team south."""
    rng = np.random.default_rng(seed)
    source = rng.choice(
        ["Reference", "Google", "Olark Chat", "Direct Traffic"], n, p=[0.2, 0.35, 0.25, 0.2]
    )
    visits = rng.poisson(4, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "Lead Source": source,
            "TotalVisits": visits,
            "Country": rng.choice(["India", "UAE", "USA"], n),
            "Do Not Email": rng.choice(["No", "Yes"], n, p=[0.9, 0.1]),
        }
    )
    referral = 2.5 * (source == "Reference")
    if team_effect:
        frame["team"] = rng.choice(["north", "south"], n)
        referral = np.where(frame["team"] == "north", 3.0, -3.0) * (source == "Reference")
    logit = -1.0 + referral - 1.5 * (source == "Olark Chat") + 0.3 * np.nan_to_num(visits)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a CRM sends them: plain values, blanks as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return hand_made_leads(300, seed=2)[0]


@pytest.fixture(scope="module")
def model() -> BoostedClassifier:
    X, y = hand_made_leads(2000, seed=1)
    return BoostedClassifier(n_estimators=120, min_child_samples=20, n_jobs=1, random_state=0).fit(
        X, y
    )


@pytest.fixture(scope="module")
def served(model) -> scoring.Served:
    return scoring.Served(scoring.LEAD, select_scorer(model), "4", "registry")


def test_a_scored_row_has_the_probability_the_fitted_estimator_gives_it(model, served, leads):
    expected = model.predict_proba(leads)[:, 1]
    for i in (0, 1, 7, 42):
        [one] = scoring.score(served, [records(leads)[i]])
        assert one.probability == pytest.approx(expected[i], abs=1e-9)
    batch = scoring.score(served, records(leads))
    np.testing.assert_allclose([s.probability for s in batch], expected, rtol=0, atol=1e-9)


def test_a_row_scored_alone_is_scored_exactly_as_inside_a_batch(served, leads):
    rows = records(leads)
    batch = scoring.score(served, rows)
    for row, in_batch in zip(rows, batch, strict=True):
        assert scoring.score(served, [row]) == [in_batch]


def test_contributions_and_the_bias_add_up_to_the_raw_score(model, served, leads):
    probabilities, contrib = scoring.predict(served, scoring.encode(served, records(leads)))
    # The bias read straight from LightGBM's trees: the sum of their root values.
    trees = model.booster_.dump_model()["tree_info"]
    bias = sum(
        t["tree_structure"].get("internal_value", t["tree_structure"].get("leaf_value"))
        for t in trees
    )
    raw = model.booster_.predict(model.encoder_.transform(leads), raw_score=True)
    assert contrib.shape == (len(leads), len(model.encoder_.columns))
    np.testing.assert_allclose(contrib.sum(axis=1) + bias, raw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(probabilities, model.predict_proba(leads)[:, 1], atol=1e-9)


def test_reasons_are_the_top_factors_said_in_the_users_own_words(model, served, leads):
    rows = records(leads)
    encoded = scoring.encode(served, rows)
    predicted = scoring.predict(served, encoded)
    scores = scoring.explain(served, encoded, predicted, top=2)
    columns = model.encoder_.columns
    for row, contrib, s in zip(rows, predicted.contributions, scores, strict=True):
        assert len(s.reasons_for) <= 2 and len(s.reasons_against) <= 2
        assert all(r["contribution"] > 0 for r in s.reasons_for)
        assert all(r["contribution"] < 0 for r in s.reasons_against)
        assert {r["field"] for r in s.reasons_for + s.reasons_against} <= set(row)
        largest = [columns[j] for j in np.argsort(-contrib)[:2] if contrib[j] > 1e-6]
        assert [r["field"] for r in s.reasons_for] == largest
    referral = {"Lead Source": "Reference", "TotalVisits": 6, "Country": "India"}
    [s] = scoring.score(served, [referral])
    assert "Lead Source = Reference: raises the score" in [r["sentence"] for r in s.reasons_for]


def test_reasons_use_the_field_names_of_the_users_export(model, leads):
    labelled = copy.copy(model)
    labelled.field_labels_ = {"Lead Source": "Source of the lead"}
    served = scoring.Served(scoring.LEAD, select_scorer(labelled), "4", "registry")
    [s] = scoring.score(served, [{"Lead Source": "Reference", "TotalVisits": 6}])
    sentences = [r["sentence"] for r in s.reasons_for]
    assert "Source of the lead = Reference: raises the score" in sentences
    assert "Lead Source" not in {r["field"] for r in s.reasons_for + s.reasons_against}


def test_an_unknown_category_or_a_missing_field_scores_as_blank(model, served):
    # ... and a category the model never learnt is said with its value, not as "is blank".
    odd = {
        "Lead Source": "Carrier pigeon",
        "Country": "India",
        "Do Not Email": "No",
        "Not a field": "x",
    }  # TotalVisits missing
    blank = pd.DataFrame(
        {
            "Lead Source": [None],
            "TotalVisits": [np.nan],
            "Country": ["India"],
            "Do Not Email": ["No"],
        }
    )
    [s] = scoring.score(served, [odd])
    assert s.probability == pytest.approx(model.predict_proba(blank)[0, 1], abs=1e-9)
    said = {r["field"]: r for r in s.reasons_for + s.reasons_against}
    assert "Lead Source" in said
    assert said["Lead Source"]["value"] == "Carrier pigeon"
    assert said["Lead Source"]["sentence"].startswith(
        "Lead Source = Carrier pigeon (not among the values the model learnt: scored as blank): "
    )
    [empty] = scoring.score(served, [{}])
    assert 0 <= empty.probability <= 1
    by_field = {r["field"]: r for r in empty.reasons_for + empty.reasons_against}
    assert by_field["Lead Source"]["sentence"].startswith("Lead Source is blank:")
    in_batch = scoring.score(served, [odd] * scoring.BY_COLUMN_FROM + [{}])
    assert [b == s for b in in_batch[:-1]] == [True] * scoring.BY_COLUMN_FROM
    assert in_batch[-1] == empty


def test_numbers_sent_as_text_are_read_and_other_text_is_blank(served):
    as_number = scoring.score(served, [{"Lead Source": "Google", "TotalVisits": 7}])[0]
    as_text = scoring.score(served, [{"Lead Source": "Google", "TotalVisits": "7"}])[0]
    as_words = scoring.score(
        served,
        [
            {"Lead Source": "Google", "TotalVisits": "lots"},
            {"Lead Source": "Google", "TotalVisits": [1, 2]},
        ],
    )
    missing = scoring.score(served, [{"Lead Source": "Google"}])[0]
    assert as_text.probability == as_number.probability
    assert [s.probability for s in as_words] == [missing.probability] * 2


def test_nan_and_inf_written_as_text_are_said_as_no_number_in_a_batch_as_alone(served):
    """numpy reads "nan" and "inf" text as floats; the score says they are no number, one row
    or a batch read column by column alike (a dataset without a notation of its own)."""
    for text in ("nan", "inf", "-Infinity"):
        odd = {"Lead Source": "Google", "TotalVisits": text}
        [alone] = scoring.score(served, [odd], top=10)
        rest = [{"Lead Source": "Google", "TotalVisits": 3}] * 20
        assert scoring.score(served, [*rest, odd], top=10)[-1] == alone
        sentences = [r["sentence"] for r in alone.reasons_for + alone.reasons_against]
        assert any(s.startswith(f"TotalVisits = {text!r} (not a number") for s in sentences), (
            sentences
        )
        blank = scoring.score(served, [{"Lead Source": "Google"}])[0]
        assert alone.probability == blank.probability


def test_the_response_holds_plain_python_values(served, leads):
    [s] = scoring.score(served, records(leads.head(1)))
    assert type(s.probability) is float and type(s.score) is int and type(s.grade) is str
    assert s.score == round(100 * s.probability) and s.grade in "ABCD"
    assert (s.model, s.version, s.method, s.label) == ("lead-qualification", "4", "model", "model")
    for r in s.reasons_for + s.reasons_against:
        assert type(r["contribution"]) is float and not isinstance(r["value"], np.generic)


def test_without_reasons_the_probability_is_the_same(served, leads):
    rows = records(leads.head(20))
    bare = scoring.score(served, rows, top=0)
    assert all(s.reasons_for == [] and s.reasons_against == [] for s in bare)
    assert [s.probability for s in bare] == [s.probability for s in scoring.score(served, rows)]
    assert scoring.score(served, []) == []


def test_per_team_models_score_their_own_rows():
    X, y = hand_made_leads(4000, seed=3, team_effect=True)
    model = PerTeamClassifier(
        BoostedClassifier(n_estimators=80, n_jobs=1, random_state=0), min_won=50, min_lost=50
    ).fit(X, y)
    assert model.teams_with_own_model  # the data is made so that teams differ
    served = scoring.Served(scoring.DEAL, select_scorer(model), "1", "registry")
    rows = hand_made_leads(200, seed=4, team_effect=True)[0]
    rows.loc[rows.index[:5], "team"] = "a team never seen"
    batch = scoring.score(served, records(rows))
    np.testing.assert_allclose(
        [s.probability for s in batch], model.predict_proba(rows)[:, 1], rtol=0, atol=1e-9
    )
    for i in (0, 10, 11, 12):
        assert scoring.score(served, [records(rows)[i]]) == [batch[i]]


def test_the_stage_fallback_goes_through_the_same_steps_and_says_so():
    scorer = select_scorer(None, stage_rates={"Prospecting": 0.6, "Closing": 0.2})
    served = scoring.Served(scoring.DEAL, scorer, None, "fallback")
    rows = [{"stage": "Prospecting"}, {"stage": "Closing"}, {"stage": "Nowhere"}]
    encoded = scoring.encode(served, rows)
    predicted = scoring.predict(served, encoded)
    # A stage it has no rate for gets the overall rate.
    assert predicted.probabilities.tolist() == [0.6, 0.2, pytest.approx(0.4)]
    assert not predicted.contributions.any()
    scores = scoring.explain(served, encoded, predicted)
    assert [s.grade for s in scores] == ["B", "D", "C"]
    first = scores[0]
    assert (first.method, first.version, first.model) == (
        "stage_win_rate",
        None,
        "close-probability",
    )
    assert "fallback" in first.label
    assert first.reasons_for == [
        {
            "field": "Stage",
            "value": "Prospecting",
            "contribution": 0.0,
            "sentence": "Stage = Prospecting: historical win rate 60% (no champion model yet)",
        }
    ]
    assert scoring.score(served, [rows[1]]) == [scores[1]]


def test_the_base_rate_fallback_scores_every_lead_alike_and_grades_none():
    """One rate for every lead ranks nothing: a grade would only mislead (D read as "don't
    call"), so there is none, and each score says why."""
    served = scoring.Served(scoring.LEAD, select_scorer(None, base_rate=0.21), None, "fallback")
    scores = scoring.score(served, [{"Lead Source": "Reference"}, {}], top=0)
    assert [(s.probability, s.score, s.grade) for s in scores] == [(0.21, 21, None)] * 2
    assert [list(s.notes) for s in scores] == [
        ["no model yet: every lead has the base rate; no grade"]
    ] * 2
    served = scoring.Served(scoring.LEAD, select_scorer(None, base_rate=0.3), None, "fallback")
    scores = scoring.score(served, [{"Lead Source": "Reference"}, {}])
    assert [(s.probability, s.score, s.grade) for s in scores] == [(0.3, 30, None)] * 2
    assert scores[0].reasons_for[0]["sentence"] == (
        "base conversion rate 30% (no champion model yet)"
    )
    assert scores[0].method == "base_rate" and scores[0].reasons_against == []


def test_a_deal_fallback_that_ranks_by_stage_keeps_its_grades():
    """Per-stage win rates and a CRM's stage probabilities put a later stage above an earlier
    one, so their grades mean something; the scores say nothing of a missing grade."""
    for scorer in (
        select_scorer(None, stage_rates={"Prospecting": 0.1, "Closing": 0.8}),
        # (an overall rate below both: a stage under it would score at it, not at the CRM's)
        crm_stage_scorer({"Prospecting": 0.1, "Closing": 0.8}, overall=0.05),
    ):
        served = scoring.Served(scoring.DEAL, scorer, None, "fallback")
        scores = scoring.score(served, [{"stage": "Closing"}, {"stage": "Prospecting"}])
        assert [s.grade for s in scores] == ["A", "D"]
        assert [list(s.notes) for s in scores] == [[], []]


def test_a_deal_fallback_with_one_rate_for_every_stage_grades_none():
    """A flat stage history gives every deal the overall win rate: nothing ranks, no grade."""
    served = scoring.Served(scoring.DEAL, undated_scorer(0.4), None, "fallback")
    scores = scoring.score(served, [{"stage": "Closing"}, {"stage": "Prospecting"}])
    assert [(s.probability, s.grade) for s in scores] == [(0.4, None)] * 2
    assert list(scores[0].notes) == ["no model yet: every deal has the overall win rate; no grade"]
