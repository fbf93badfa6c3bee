"""A deal far older, or far longer in its stage, than any open deal the model learnt from gets
its probability with a note saying so (before: no word, though the model never saw such a deal).
The model keeps what it saw at fit time (`largest_seen_`); a model trained before has none and
gives no such note."""

from __future__ import annotations

import copy
import json
from typing import Any

import pandas as pd
import pytest

from forecast import scoring
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from tests.forecast import synthetic

TYPICAL = {
    "stage": "Demonstration",
    "stage_index": 2,
    "age_days": 1.0,
    "days_in_stage": 0.5,
    "amount": 5000.0,
}


@pytest.fixture(scope="module")
def history():
    return synthetic.deal_history(1200, seed=5)


@pytest.fixture(scope="module")
def model(history, tmp_path_factory) -> Any:
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("fit"),
        lgbm_threads=2,
        min_won_deals=100,
        min_lost_deals=100,
        team_min_won_deals=150,
        team_min_lost_deals=150,
    )
    return train_deals(history, settings=settings).model


def ranged(notes: tuple[str, ...]) -> tuple[str, ...]:
    """The notes on a deal beyond what the model saw (the typical row leaves the model's other
    inputs out, which has notes of its own)."""
    return tuple(n for n in notes if "is beyond the" in n)


def served(model: Any) -> scoring.Served:
    return scoring.Served(scoring.DEAL, select_scorer(model), "1", "registry")


def longest_open_days(history) -> float:
    """The longest any deal of the data was open: from creation to its close, or to the data's
    now. No open deal the model learnt from can be older."""
    deals = history.deals
    end = deals["closed_at"].fillna(history.now())
    return float(((end - deals["created_at"]).dt.total_seconds() / 86_400).max())


def test_the_model_keeps_how_old_the_open_deals_it_learnt_from_were(model, history):
    seen = model.largest_seen_
    assert set(seen) == {"age_days", "days_in_stage"}
    assert 0 < seen["age_days"] <= longest_open_days(history)
    assert 0 < seen["days_in_stage"] <= seen["age_days"]


def test_a_deal_far_older_than_any_the_model_learnt_from_says_so(model, history):
    oldest = model.largest_seen_["age_days"]
    age = 10 * longest_open_days(history)
    [old, usual] = scoring.score(served(model), [{**TYPICAL, "age_days": age}, TYPICAL])
    assert ranged(usual.notes) == ()
    [note] = ranged(old.notes)
    assert note.startswith(f"age {age:,.0f} days is beyond the oldest open deal")
    assert f"({oldest:,.0f} days)" in note
    assert 0 <= old.probability <= 1  # still scored: the note says how far to trust it


def test_a_deal_far_longer_in_its_stage_than_any_stay_learnt_says_so(model, history):
    days = 10 * longest_open_days(history)
    row = {**TYPICAL, "age_days": days, "days_in_stage": days}
    [scored] = scoring.score(served(model), [row])
    assert len(ranged(scored.notes)) == 2
    assert ranged(scored.notes)[1].startswith(
        f"{days:,.0f} days in its stage is beyond the longest stay"
    )


def test_a_batch_says_the_same_notes_as_each_deal_alone(model, history):
    age = 10 * longest_open_days(history)
    rows = [TYPICAL] * 30 + [{**TYPICAL, "age_days": age}] + [TYPICAL] * 5
    batch = scoring.score(served(model), rows)
    alone = [scoring.score(served(model), [row])[0] for row in rows]
    assert [s.notes for s in batch] == [s.notes for s in alone]
    assert [i for i, s in enumerate(batch) if ranged(s.notes)] == [30]


def test_a_model_trained_before_it_kept_what_it_saw_gives_no_such_note(model, history):
    older = copy.deepcopy(model)
    del older.largest_seen_
    age = 10 * longest_open_days(history)
    [scored] = scoring.score(served(older), [{**TYPICAL, "age_days": age}])
    assert ranged(scored.notes) == ()


def test_a_fallback_scores_without_such_a_note(history):
    from forecast.model_set import deal_fallback
    from forecast.modeling.baselines import stage_win_rates

    scorer = deal_fallback(history, stage_win_rates(history))
    fallback = scoring.Served(scoring.DEAL, scorer, None, "fallback")
    [scored] = scoring.score(fallback, [{**TYPICAL, "age_days": 1e6}])
    assert scored.notes == () and isinstance(scored.probability, float)


def test_a_deal_at_risk_older_than_the_model_saw_carries_the_note(model):
    """The deals-at-risk list (API, dashboard, CSV) scores open deals through the same path: a
    deal open for years, stuck in its stage, is listed with the note; the others without."""
    from forecast.history import DealHistory
    from forecast.risk import deals_at_risk

    opps, log, stages, end = synthetic.deals(1200, seed=5)
    old = opps[opps["status"] == "open"].iloc[[0]].copy()
    created = end - pd.Timedelta(days=3000)
    old["id"], old["created_at"] = "OLD", created
    stage = stages.open_stages[1]
    old["stage"] = stage
    entered = pd.DataFrame(
        [("OLD", stage, created)], columns=["opportunity_id", "stage", "entered_at"]
    )
    history = DealHistory.from_frames(
        pd.concat([opps, old], ignore_index=True),
        pd.concat([log, entered.astype(log.dtypes.to_dict())], ignore_index=True),
        stages,
        check_leaks=False,
    )
    report = deals_at_risk(history, served=served(model), limit=1000)
    listed = {d["id"]: d for d in report.deals}
    age, in_stage = listed["OLD"]["notes"]  # about 3,000 days old, all in its stage
    assert age.startswith("age 3,0") and "beyond the oldest open deal" in age
    assert in_stage.startswith("3,0") and "in its stage is beyond the longest stay" in in_stage
    oldest, longest = model.largest_seen_["age_days"], model.largest_seen_["days_in_stage"]
    for d in listed.values():
        if d["age_days"] < oldest - 0.1 and d["days_in_stage"] < longest - 0.1:
            assert d["notes"] == []


def test_a_batch_file_carries_the_note_in_its_notes_column(model, history, tmp_path):
    from forecast import batch_output, batch_scoring

    age = 10 * longest_open_days(history)
    frame = pd.DataFrame([TYPICAL, {**TYPICAL, "age_days": age}]).assign(id=["usual", "old"])
    rows = batch_scoring.BatchRows(scoring.DEAL, "crm", frame)
    out = tmp_path / "deals.parquet"
    batch_output.run_batch(rows, batch_scoring.BatchScorer(served(model)), out, top=0)
    notes = [ranged(tuple(json.loads(n))) for n in batch_output.read_parquet(out)["notes"]]
    assert notes[0] == () and len(notes[1]) == 1
    assert notes[1][0].startswith(f"age {age:,.0f} days is beyond the oldest open deal")
