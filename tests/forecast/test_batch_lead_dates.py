"""A batch of leads does not stop at a lead whose `created_at` is no date: that lead is scored
as undated, and the run's summary says how many there were, with an example. A lead whose
`created_at` is blank is an existing lead created at a time not known: scored as undated too
(not as created now, which the API assumes of a lead sent without one), and its notes say so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast import batch_output, batch_scoring, scoring
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings


def _leads(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    channel = rng.choice(["web", "event", "referral"], n)
    logit = -1.0 + 2.5 * (created.dayofweek >= 5) + 0.8 * (channel == "referral")
    converted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": converted,
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Channel": channel,
        }
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> scoring.Served:
    settings = Settings(state_dir=tmp_path_factory.mktemp("fit"), min_converted_leads=50)
    model = train_leads(_leads(), settings=settings, cross_validate=False).model
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    assert served.date_inputs  # the model reads when a lead came in
    return served


TO_SCORE = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d"],
        "Channel": ["web", "web", "web", "web"],
        "created_at": ["2024-06-01 10:00:00", "yesterday", "2024-02-30", "2024-06-03 10:00:00"],
    }
)


def test_a_batch_scores_every_lead_and_says_how_many_dates_were_unreadable(served, tmp_path):
    rows = batch_scoring.lead_rows(TO_SCORE, "leads")
    summary = batch_output.run_batch(
        rows, batch_scoring.BatchScorer(served), tmp_path / "out.parquet", top=0
    )
    assert summary.rows == 4  # nobody left out
    [note] = [n for n in summary.notes if "created_at" in n]
    assert note.startswith("2 lead(s)")
    assert "lead b: 'yesterday'" in note
    assert "undated" in note
    scores = batch_output.read_parquet(tmp_path / "out.parquet")
    assert scores["id"].tolist() == ["a", "b", "c", "d"]


def test_a_lead_with_an_unreadable_date_scores_as_one_with_no_date_inputs(served) -> None:
    part = TO_SCORE.iloc[[1]]
    [bad] = batch_scoring.score_part(part, served, top=0)["probability"]
    model = served.scorer.model
    undated = pd.DataFrame(
        {"Channel": ["web"], "created_weekday": [None], "created_hour": [np.nan]}
    )
    [[_, expected]] = model.predict_proba(undated[list(model.encoder_.columns)])
    assert bad == pytest.approx(expected)


def test_a_batch_with_only_readable_dates_says_nothing_of_them(served, tmp_path) -> None:
    rows = batch_scoring.lead_rows(TO_SCORE.iloc[[0, 3]], "leads")
    assert rows.notes == ()


def test_a_lead_with_a_blank_date_scores_as_undated_and_its_notes_say_so(served) -> None:
    blank = pd.DataFrame({"id": ["e", "f"], "Channel": ["web"] * 2, "created_at": [None, ""]})
    scored = batch_scoring.score_part(pd.concat([TO_SCORE, blank]), served, top=10)
    by_id = scored.set_index("id")
    assert by_id.loc["e", "probability"] == pytest.approx(by_id.loc["b", "probability"])
    assert by_id.loc["f", "probability"] == pytest.approx(by_id.loc["b", "probability"])
    said = (
        "'created_at' is blank: the lead was scored as undated ('Day of the week created' and "
        "'Hour created (UTC)' blank)"
    )
    assert [json.loads(n) for n in scored["notes"]] == [[], [], [], [], [said], [said]]
    reasons = json.loads(by_id.loc["e", "reasons_for"]) + json.loads(
        by_id.loc["e", "reasons_against"]
    )
    dated = [r for r in reasons if r["field"].endswith("created") or "Hour" in r["field"]]
    assert all(r["value"] is None for r in dated)  # no day or hour of "now" given as a reason
    served.created_column = "Created At"  # the dataset's own column for it, as its file had it
    try:
        [notes] = batch_scoring.score_part(blank.iloc[[0]], served, top=0)["notes"]
    finally:
        served.created_column = None
    assert json.loads(notes) == [said.replace("'created_at'", "'Created At'")]


def test_a_date_without_a_time_of_day_is_said_as_the_api_says_it(served) -> None:
    """The model reads the hour: a date with none (as "2024-06-01" reads) has its hour scored
    as blank, and the batch's notes say so as the API's do; a date that could not be read says
    nothing of it (its own summary note says why)."""
    dates = pd.DataFrame(
        {"id": ["g", "h"], "Channel": ["web"] * 2, "created_at": ["2024-06-01", "yesterday"]}
    )
    scored = batch_scoring.score_part(dates, served, top=0).set_index("id")
    assert json.loads(scored.loc["g", "notes"]) == [
        "'created_at' has no time of day: 'Hour created (UTC)' was scored as blank"
    ]
    assert json.loads(scored.loc["h", "notes"]) == []


def test_a_lead_created_before_1900_is_said_as_such_showing_the_date_as_written(served, tmp_path):
    """A file's dates reach the batch read (Timestamps): the summary said 'a created_at that is
    no date or lies in the future (e.g. lead z: Timestamp('1890-01-01 00:00:00'))', neither
    true of it, and in Python's spelling."""
    old = pd.DataFrame(
        {"id": ["z"], "Channel": ["web"], "created_at": [pd.Timestamp("1890-01-01")]}
    )
    summary = batch_output.run_batch(
        batch_scoring.lead_rows(old, "leads"),
        batch_scoring.BatchScorer(served),
        tmp_path / "out.parquet",
        top=0,
    )
    [note] = [n for n in summary.notes if "created_at" in n]
    assert note == (
        "1 lead(s) with a created_at that is no date, before 1900 or in the future, scored as "
        "undated (e.g. lead z: '1890-01-01')"
    )
