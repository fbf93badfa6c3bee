"""A text value sent for scoring is read as the import reads text: the import trims each value,
composes it (NFC) and reads no-break spaces as spaces before the model learns it, so a CRM
sending " Reference " (or an NFD "Zoë", or "Olark\u00a0Chat" copied from a web page) means the
level training learnt, not a value never seen, scored as blank and noted as not learnt."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest

from forecast import scoring
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from tests.forecast.test_scoring import hand_made_leads, records


@pytest.fixture(scope="module")
def served() -> scoring.Served:
    X, y = hand_made_leads(1500, seed=5)
    X = X.assign(Country=X["Country"].replace({"USA": "Zoë Land"}))
    model = BoostedClassifier(n_estimators=60, n_jobs=1, random_state=0).fit(X, y)
    return scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")


SENT_OTHERWISE = {
    "Lead Source": [" Reference ", "Reference\u200b", "Olark\u00a0Chat"],
    "Country": [unicodedata.normalize("NFD", "Zoë Land"), "Zoë Land\t"],
}


def _row(field: str, value: str) -> dict:
    row = records(hand_made_leads(1, seed=9)[0])[0]
    return {**row, "Country": "India", field: value}


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in SENT_OTHERWISE.items() for v in values]
)
def test_a_value_sent_with_stray_spaces_or_another_unicode_form_scores_as_learnt(
    served, field, value
):
    learnt = " ".join(unicodedata.normalize("NFC", value).replace("\u200b", "").split())
    [sent] = scoring.score(served, [_row(field, value)], as_sent=True)
    [clean] = scoring.score(served, [_row(field, learnt)], as_sent=True)
    assert sent.probability == clean.probability
    assert sent.reasons_for == clean.reasons_for and sent.reasons_against == clean.reasons_against
    assert not any("not learnt" in note or "never" in note for note in sent.notes)
    # Inside a batch (read column by column) it is the same.
    batch = [_row(field, value)] * scoring.BY_COLUMN_FROM
    assert scoring.score(served, batch, as_sent=True)[0] == sent


def test_a_value_never_learnt_is_still_said_whatever_its_spaces(served):
    [sent] = scoring.score(served, [_row("Lead Source", "  Carrier pigeon ")], as_sent=True)
    assert any("Carrier pigeon" in note for note in sent.notes)
    batch = [_row("Lead Source", "  Carrier pigeon ")] * scoring.BY_COLUMN_FROM
    assert scoring.score(served, batch, as_sent=True)[0] == sent


def test_the_encoded_rows_equal_the_encoder_reading_the_cleaned_frame(served):
    model = served.scorer.model
    rows = [_row(f, v) for f, values in SENT_OTHERWISE.items() for v in values]
    cleaned = [
        {
            k: (" ".join(v.replace("\u200b", "").split()) if isinstance(v, str) else v)
            for k, v in r.items()
        }
        for r in rows
    ]
    frame = pd.DataFrame(cleaned)
    frame["Country"] = frame["Country"].map(lambda v: unicodedata.normalize("NFC", v))
    expected = model.encoder_.transform(frame[list(model.encoder_.columns)])
    for row, want in zip(rows, expected, strict=True):
        assert (scoring._encode(model.encoder_, [row])[0] == want).all()
