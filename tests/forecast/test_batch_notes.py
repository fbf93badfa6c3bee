"""`forecast score` writes each row's notes, as the API gives them, in a `notes` column (a JSON
list of text, `[]` where there is nothing to say): a lead's value the model could not use (text
in a number field, a value training never had) is said in the batch file as in the API's
response, in a small batch and in a big one alike."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast import batch_output, batch_scoring, scoring
from forecast.batch_scoring import COLUMNS
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings


def _leads(n: int = 2000, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["web", "event", "referral"], n)
    visits = rng.poisson(4, n).astype(float)
    logit = -1.5 + 0.3 * visits + 0.8 * (channel == "referral")
    converted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {"id": [f"L{i}" for i in range(n)], "converted": converted, "Channel": channel}
    ).assign(Visits=visits)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> scoring.Served:
    settings = Settings(state_dir=tmp_path_factory.mktemp("fit"), min_converted_leads=50)
    model = train_leads(_leads(), settings=settings, cross_validate=False).model
    return scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")


USUAL = {"Channel": "web", "Visits": 3.0}
ODD = {
    "text": {"Channel": "web", "Visits": "lots"},
    "unlearnt": {"Channel": "carrier pigeon", "Visits": 3.0},
}
SAID = {
    "text": "Visits = 'lots' is not a number: scored as blank",
    "unlearnt": "Channel = 'carrier pigeon' was not learnt in training: scored as blank",
}


def _batch(served: scoring.Served, usual: int, tmp_path) -> pd.DataFrame:
    """`usual` usual leads, then the two odd ones, scored as `forecast score` scores them."""
    rows = [USUAL] * usual + list(ODD.values())
    frame = pd.DataFrame(rows, dtype=object).assign(id=[f"x{i}" for i in range(len(rows))])
    out = tmp_path / "leads.parquet"
    batch_output.run_batch(
        batch_scoring.lead_rows(frame, "leads"), batch_scoring.BatchScorer(served), out, top=2
    )
    return batch_output.read_parquet(out)


@pytest.mark.parametrize("usual", [1, 40], ids=["small batch", "big batch"])
def test_a_leads_unread_value_is_said_in_the_batch_files_notes(served, usual, tmp_path):
    scores = _batch(served, usual, tmp_path)
    assert list(scores.columns) == list(COLUMNS)
    notes = [json.loads(n) for n in scores["notes"]]
    assert notes[:usual] == [[]] * usual  # nothing to say: an empty list
    assert notes[usual:] == [[SAID["text"]], [SAID["unlearnt"]]]


def test_the_batch_says_what_the_api_says_of_the_same_lead(served, tmp_path):
    scores = _batch(served, 40, tmp_path)
    api = scoring.score(served, list(ODD.values()), as_sent=True)
    assert [json.loads(n) for n in scores["notes"].iloc[-2:]] == [list(s.notes) for s in api]
    alone = [scoring.score(served, [row])[0].probability for row in ODD.values()]
    np.testing.assert_allclose(scores["probability"].iloc[-2:], alone)  # the notes change no score


@pytest.mark.parametrize("usual", [1, 40], ids=["small batch", "big batch"])
def test_a_number_too_big_for_a_float_is_said_and_scored_as_blank_as_the_api_does(
    served, usual, tmp_path
):
    huge = "9" * 400  # Python reads it as infinity: no number the model can use
    rows = [USUAL] * usual + [ODD["text"], {"Channel": "web", "Visits": huge}]
    frame = pd.DataFrame(rows, dtype=object).assign(id=[f"x{i}" for i in range(len(rows))])
    out = tmp_path / "leads.parquet"
    batch_output.run_batch(
        batch_scoring.lead_rows(frame, "leads"), batch_scoring.BatchScorer(served), out, top=2
    )
    scores = batch_output.read_parquet(out)
    api = scoring.score(served, [{"Channel": "web", "Visits": huge}], as_sent=True)[0]
    assert json.loads(scores["notes"].iloc[-1]) == list(api.notes)
    assert api.notes == [f"Visits = {huge!r} is not a number: scored as blank"]
    blank = scoring.score(served, [{"Channel": "web", "Visits": None}])[0].probability
    assert scores["probability"].iloc[-1] == pytest.approx(blank)
